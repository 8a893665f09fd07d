"""What a battle looks like from outside: turns so far; names only once it is voted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.battles import service
from arena.models.tables import ModelEndpoint
from arena.votes.service import reveal
from arena.votes.tables import Vote


def battle_view(session: Session, battle_id: str) -> dict[str, Any]:
    battle = service.get_battle(session, battle_id)
    turns = service.turns_of(session, battle.id)
    answers = service.responses_of(session, [t.id for t in turns])
    view_turns = []
    for t in turns:
        responses = {}
        for side in service.SIDES:
            r = answers.get((t.id, side))
            responses[side] = {
                "content": r.content if r else "",
                "status": r.status if r else "streaming",
                "finish_reason": r.finish_reason if r else None,
                "error": r.error if r else None,
            }
        view_turns.append(
            {"index": t.idx, "content": t.content, "status": t.status, "responses": responses}
        )
    last = turns[-1].status if turns else None
    voted = battle.voted_at is not None
    view: dict[str, Any] = {
        "battle_id": battle.id,
        "sides": ["A", "B"],
        "created_at": battle.created_at.isoformat(),
        "turns": view_turns,
        "can_send": not voted and last != "streaming",
        "can_vote": not voted and last == "done",
        "voted": voted,
        "winner": None,
        "revealed": None,
    }
    if voted:
        view["winner"] = session.scalar(select(Vote.winner).where(Vote.battle_id == battle.id))
        a = session.get(ModelEndpoint, battle.model_a_id)
        b = session.get(ModelEndpoint, battle.model_b_id)
        assert a is not None and b is not None
        view["revealed"] = reveal({"A": a, "B": b})
    return view
