"""The public boards, their categories and history, and what each snapshot was computed
from."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from arena.deps import run_in_session
from arena.exports.history import HISTORY_COLUMNS, history_batches
from arena.exports.router import FORMAT_QUERY, check_format, download
from arena.exports.snapshot_votes import board_batches
from arena.leaderboard.views import (
    BoardQuery,
    categories,
    check_history,
    current_board,
    model_history,
    snapshot_download,
    snapshot_meta,
)

router = APIRouter(prefix="/api/v1", tags=["leaderboard"])

VIEW_QUERY: Any = Query("default", max_length=40, description="default or style")
CATEGORY_QUERY: Any = Query(
    None, min_length=1, max_length=80, description="a category (see /leaderboard/categories)"
)


def board_query(
    request: Request, view: str, category: str | None, include_retired: bool = False
) -> BoardQuery:
    settings = request.app.state.settings
    return BoardQuery(
        view=view,
        category=category,
        include_retired=include_retired,
        provisional_votes=settings.provisional_votes,
        category_min_votes=settings.category_min_votes,
    )


@router.get("/leaderboard")
async def get_leaderboard(
    request: Request,
    view: str = VIEW_QUERY,
    category: str | None = CATEGORY_QUERY,
    include_retired: bool = Query(False, description="also list retired models, marked"),
) -> Any:
    """The latest board of a view and category; `view=style` adds its style coefficients.
    A category below ARENA_CATEGORY_MIN_VOTES answers with its board and `shown: false`."""
    query = board_query(request, view, category, include_retired)
    return await run_in_session(request, current_board, query)


@router.get("/leaderboard/categories")
async def get_categories(request: Request) -> Any:
    """Every category of the latest recompute with its counted votes and whether it is
    shown (at least ARENA_CATEGORY_MIN_VOTES)."""
    return await run_in_session(request, categories, request.app.state.settings.category_min_votes)


@router.get("/leaderboard/history", response_model=None)
async def get_history(
    request: Request,
    model: str | None = Query(None, min_length=1, max_length=200),
    view: str = VIEW_QUERY,
    category: str | None = CATEGORY_QUERY,
    format: str = FORMAT_QUERY,
) -> Any:
    """With ``model``: that model's ratings per snapshot (JSON). Without: the whole board's
    history, one row per model per snapshot, as a jsonl, csv or parquet download."""
    if model is not None:
        return await run_in_session(request, model_history, model, view, category)
    fmt = check_format(format)
    await run_in_session(request, check_history, view, category)

    def source(session: Session) -> Any:
        return history_batches(session, view, category)

    name = f"arena-history-{view}" + (f"-{category.replace(':', '-')}" if category else "")
    return download(request, name, fmt, source, HISTORY_COLUMNS)


@router.get("/snapshots/{snapshot_id}")
async def get_snapshot(snapshot_id: int, request: Request) -> Any:
    return await run_in_session(request, snapshot_meta, snapshot_id)


@router.get("/snapshots/{snapshot_id}/votes")
async def get_snapshot_votes(
    snapshot_id: int, request: Request, format: str = FORMAT_QUERY
) -> StreamingResponse:
    """Exactly the votes the snapshot counted, as they were then (a category board's: those
    of its category); the jsonl bytes hash to the snapshot's sha256."""
    fmt = check_format(format)
    wanted = await run_in_session(request, snapshot_download, snapshot_id)

    def source(session: Session) -> Any:
        return board_batches(session, wanted.runs, wanted.category)

    return download(request, f"arena-snapshot-{snapshot_id}-votes", fmt, source, wanted.columns)
