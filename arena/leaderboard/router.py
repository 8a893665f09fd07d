"""The public board, its history, and what each snapshot was computed from."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from arena.deps import run_in_session
from arena.exports.router import FORMAT_QUERY, check_format, download
from arena.exports.snapshot_votes import counted_batches
from arena.leaderboard.views import current_board, model_history, snapshot_download, snapshot_meta

router = APIRouter(prefix="/api/v1", tags=["leaderboard"])


@router.get("/leaderboard")
async def get_leaderboard(request: Request) -> Any:
    return await run_in_session(request, current_board)


@router.get("/leaderboard/history")
async def get_history(request: Request, model: str = Query(min_length=1, max_length=200)) -> Any:
    return await run_in_session(request, model_history, model)


@router.get("/snapshots/{snapshot_id}")
async def get_snapshot(snapshot_id: int, request: Request) -> Any:
    return await run_in_session(request, snapshot_meta, snapshot_id)


@router.get("/snapshots/{snapshot_id}/votes")
async def get_snapshot_votes(
    snapshot_id: int, request: Request, format: str = FORMAT_QUERY
) -> StreamingResponse:
    """Exactly the votes the snapshot counted, as they were then; the jsonl bytes hash to
    the snapshot's sha256."""
    fmt = check_format(format)
    wanted = await run_in_session(request, snapshot_download, snapshot_id)

    def source(session: Session) -> Any:
        return counted_batches(session, wanted.runs)

    return download(request, f"arena-snapshot-{snapshot_id}-votes", fmt, source, wanted.columns)
