"""The public board, its history, and what each snapshot was computed from."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from arena.deps import run_in_session
from arena.leaderboard.views import current_board, model_history, snapshot_meta

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
