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
from arena.leaderboard.views import current_board, model_history
from arena.models.tables import LICENSES
from arena.responses import FastJSONResponse
from arena.web import charts, forms, stats
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


@router.get("/")
async def new_battle(request: Request) -> Response:
    response = page(request, "battle.html", {"battle": None})
    response.headers.update(NO_STORE)
    return response


@router.get("/battles/{battle_id}")
async def show_battle(battle_id: str, request: Request) -> Response:
    view = await run_in_session(request, _rendered_battle, battle_id)
    response = page(request, "battle.html", {"battle": view})
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


def _leaderboard(session: Session, filters: stats.Filters) -> dict[str, Any]:
    board = current_board(session)
    models = board["models"]
    shown = [m for m in models if filters.keep(m)]
    return {
        "board": board,
        "rows": shown,
        "bars": charts.interval_bars(models),
        "bar_width": charts.BAR_WIDTH,
        "organizations": sorted({m["organization"] for m in models if m["organization"]}),
        "licenses": LICENSES,
        "filters": filters,
    }


@router.get("/leaderboard")
async def leaderboard(
    request: Request,
    license: str = Query("", max_length=20),
    organization: str = Query("", max_length=200),
) -> Response:
    filters = stats.Filters(license if license in LICENSES else "", organization)
    context = await run_in_session(request, _leaderboard, filters)
    return page(request, "leaderboard.html", context)


def _model_page(session: Session, name: str) -> dict[str, Any] | None:
    model = stats.public_model(session, name)
    if model is None:
        return None
    history = model_history(session, name)["history"]
    board = current_board(session)
    current = next((m for m in board["models"] if m["model"] == name), None)
    return {
        "model": model,
        "current": current,
        "board": board,
        "history": history,
        "chart": charts.history_chart(history),
        "records": stats.head_to_head(session, model),
        "counts": stats.counts(session, model),
    }


@router.get("/models/{name}")
async def model_page(name: str, request: Request) -> Response:
    context = await run_in_session(request, _model_page, name)
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
