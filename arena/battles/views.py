"""What a battle looks like from outside: turns so far; names only once it is voted."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from arena.battles import service
from arena.battles.tables import BattleResponse, BattleTurn
from arena.errors import ArenaError
from arena.votes.service import reveal, winner_of
from arena.votes.vocabulary import SIDES


def _turn(turn: BattleTurn, answers: dict[tuple[int, str], BattleResponse]) -> dict[str, Any]:
    responses = {}
    for side in SIDES:
        r = answers.get((turn.id, side))
        responses[side] = {
            "content": r.content if r else "",
            "status": r.status if r else "streaming",
            "finish_reason": r.finish_reason if r else None,
            "error": r.error if r else None,
        }
    return {
        "index": turn.idx,
        "content": turn.content,
        "status": turn.status,
        "responses": responses,
    }


def battle_view(session: Session, battle_id: str) -> dict[str, Any]:
    battle = service.get_battle(session, battle_id)
    turns = service.turns_of(session, battle.id)
    answers = service.responses_of(session, [t.id for t in turns])
    last = turns[-1].status if turns else None
    voted = battle.voted_at is not None
    view: dict[str, Any] = {
        "battle_id": battle.id,
        "sides": ["A", "B"],
        "created_at": battle.created_at.isoformat(),
        "turns": [_turn(t, answers) for t in turns],
        "can_send": not voted and last != "streaming",
        "can_vote": not voted and last == "done",
        "voted": voted,
        "winner": None,
        "revealed": None,
    }
    if voted:
        view["winner"] = winner_of(session, battle.id)
        view["revealed"] = reveal(service.battle_models(session, battle))
    return view


def turn_view(session: Session, battle_id: str, index: int) -> dict[str, Any]:
    """One turn of a battle, as it appears in `battle_view`."""
    battle = service.get_battle(session, battle_id)
    turns = service.turns_of(session, battle.id)
    if not 0 <= index < len(turns):
        raise ArenaError(404, "turn_not_found", "this battle has no such turn")
    turn = turns[index]
    return _turn(turn, service.responses_of(session, [turn.id]))
