"""The HTML pages: battle, leaderboard, model, owners, admin and data pages; plus the
rendered-answer fragments.

Pages only read. Everything that changes state goes through the JSON API with `fetch`
(JSON body, same origin), so there are no state-changing forms to protect. The owners and
admin pages are shells: their data needs a bearer token that lives in the browser's
storage, never in a cookie, so their scripts fetch it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.responses import Response

from arena.battles.views import battle_view, turn_view
from arena.deps import run_in_session
from arena.errors import ArenaError
from arena.leaderboard.router import board_query
from arena.models.tables import LICENSES
from arena.responses import FastJSONResponse
from arena.web import board_page, forms, stats
from arena.web.data_page import data_page
from arena.web.error_pages import error_page, install_error_pages
from arena.web.render import render_markdown
from arena.web.templating import STATIC_DIR, page

router = APIRouter(include_in_schema=False)

NO_STORE = {"cache-control": "no-store"}


def _rendered_battle(session: Session, battle_id: str) -> dict[str, Any]:
    view = battle_view(session, battle_id)
    for turn in view["turns"]:
        for resp in turn["responses"].values():
            # The one place model output becomes markup: it has been through nh3.
            resp["html"] = Markup(render_markdown(resp["content"]))  # noqa: S704
    return view


def _battle_context(request: Request, battle: dict[str, Any] | None) -> dict[str, Any]:
    return {"battle": battle, "max_chars": request.app.state.settings.max_message_chars}


@router.get("/")
async def new_battle(request: Request) -> Response:
    response = page(request, "battle.html", _battle_context(request, None))
    response.headers.update(NO_STORE)
    return response


@router.get("/battles/{battle_id}")
async def show_battle(battle_id: str, request: Request) -> Response:
    view = await run_in_session(request, _rendered_battle, battle_id)
    response = page(request, "battle.html", _battle_context(request, view))
    response.headers.update(NO_STORE)
    return response


def _rendered_turn(session: Session, battle_id: str, index: int) -> dict[str, Any]:
    turn = turn_view(session, battle_id, index)
    sides = {
        side: {
            "status": r["status"],
            "error": r["error"],
            "html": render_markdown(r["content"]) if r["content"] else "",
        }
        for side, r in turn["responses"].items()
    }
    return {"index": turn["index"], "status": turn["status"], "sides": sides}


@router.get("/battles/{battle_id}/turns/{index}/render")
async def render_turn(battle_id: str, index: int, request: Request) -> Response:
    """Both answers of one turn as sanitized HTML, for the page to swap in once streamed."""
    body = await run_in_session(request, _rendered_turn, battle_id, index)
    return FastJSONResponse(body, headers=NO_STORE)


@router.get("/leaderboard")
async def leaderboard(
    request: Request,
    license: str = Query("", max_length=20),
    organization: str = Query("", max_length=200),
    view: str = Query("default", max_length=40),
    category: str = Query("", max_length=80),
    include_retired: bool = Query(False),
) -> Response:
    filters = stats.Filters(license if license in LICENSES else "", organization)
    board = board_query(request, view, category or None, include_retired)
    context = await run_in_session(
        request, board_page.leaderboard_context, board_page.PageQuery(board, filters)
    )
    return page(request, "leaderboard.html", context)


@router.get("/models/{name}")
async def model_page(
    name: str, request: Request, view: str = Query("default", max_length=40)
) -> Response:
    query = board_query(request, view, None)
    context = await run_in_session(request, board_page.model_context, name, query)
    if context is None:
        return error_page(request, 404, "There is no model with this name on the arena.")
    return page(request, "model.html", context)


@router.get("/owners")
async def owners_page(request: Request) -> Response:
    context = {"model_fields": forms.model_fields(), "owner_fields": forms.owner_fields()}
    response = page(request, "owners.html", context)
    response.headers.update(NO_STORE)
    return response


def _cursor(before: str) -> int | None:
    """``before`` as a snapshot id; anything else is a 400 (a page, not a stack)."""
    if not before:
        return None
    if not (before.isascii() and before.isdigit() and 0 < int(before) < 2**62):
        raise ArenaError(400, "invalid_cursor", "before must be a snapshot id (a whole number)")
    return int(before)


@router.get("/data")
async def data(request: Request, before: str = "") -> Response:
    """Every download, its columns and licence; the snapshots, newest first, below
    ``before``."""
    cursor = _cursor(before[:30])
    base = str(request.base_url).rstrip("/")
    license = request.app.state.settings.data_license
    context = await run_in_session(request, data_page, base, license, cursor)
    return page(request, "data.html", context)


@router.get("/admin")
async def admin_page(request: Request) -> Response:
    response = page(request, "admin.html", {})
    response.headers.update(NO_STORE)
    return response


def install(app: FastAPI) -> None:
    """Pages, static files and HTML error pages; call once at the end of `create_app`."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_error_pages(app)
