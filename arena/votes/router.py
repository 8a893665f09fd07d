"""Voting on a battle: once, by the client that asked, then the names are revealed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from arena.battles.service import get_battle, not_yours
from arena.deps import SettingsDep, hit_limits, known_client, run_in_session
from arena.votes.schemas import VoteIn, VoteOut
from arena.votes.service import cast_vote

router = APIRouter(prefix="/api/v1", tags=["votes"])


@router.post("/battles/{battle_id}/vote", response_model=VoteOut)
async def vote(battle_id: str, body: VoteIn, request: Request, settings: SettingsDep) -> Any:
    who = known_client(request, settings)
    if who is None:
        # Nobody without a cookie owns a battle, but an unknown id is still 404 first.
        await run_in_session(request, get_battle, battle_id)
        raise not_yours()
    await hit_limits(request, "votes", who)

    def work(session: Session) -> dict[str, Any]:
        cast = cast_vote(session, settings, battle_id, body.winner, who)
        return {"vote_id": cast.vote.id, "revealed": cast.revealed, "included": cast.vote.included}

    result = await run_in_session(request, work)
    request.app.state.metrics.votes.labels(included=str(result.pop("included")).lower()).inc()
    return result
