"""Turns of a battle: opening one (or retrying a failed one), planning what each side is
sent, and storing what each side answered.

Every function takes the request's session and only adds/flushes; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arena.battles.service import (
    already_voted,
    battle_models,
    owned_battle,
    responses_of,
    turns_of,
)
from arena.battles.tables import Battle, BattleResponse, BattleTurn
from arena.categories import Conversation, categorize, join_tags
from arena.crypto import api_key_from_ref
from arena.db import utcnow
from arena.errors import ArenaError
from arena.models.tables import ModelEndpoint
from arena.settings import Settings
from arena.votes.vocabulary import SIDES
from serving.client import Endpoint


@dataclass(frozen=True)
class SidePlan:
    side: str
    response_id: int
    endpoint: Endpoint
    messages: list[dict[str, str]]
    # Owner endpoints go through the SSRF-guarded client; operator ones are trusted.
    guarded: bool = False
    # The model's display name, for operator metrics only; never sent to the voter.
    label: str = ""


@dataclass(frozen=True)
class TurnPlan:
    battle_id: str
    turn_id: int
    index: int
    sides: tuple[SidePlan, SidePlan]


@dataclass
class SideResult:
    content: str
    ok: bool
    finish_reason: str | None = None
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_ms: float | None = None
    duration_ms: float | None = None
    finished_at: datetime | None = None


def check_message(settings: Settings, content: str) -> str:
    if not content.strip():
        raise ArenaError(400, "empty_message", "the message is empty")
    if len(content) > settings.max_message_chars:
        raise ArenaError(
            413,
            "message_too_long",
            f"the message has {len(content)} characters; the limit is {settings.max_message_chars}",
        )
    return content


def open_turn(
    session: Session,
    settings: Settings,
    battle_id: str,
    content: str,
    client_hash: str | None,
) -> TurnPlan:
    """Start a new turn, or retry the last one when it failed and the content is the same.
    Only the client that created the battle (`client_hash`) may continue it."""
    check_message(settings, content)
    battle = owned_battle(session, battle_id, client_hash, lock=True)
    if battle.voted_at is not None:
        raise already_voted()
    turns = turns_of(session, battle.id)
    if turns and turns[-1].status == "streaming":
        raise ArenaError(409, "turn_in_progress", "the previous answer is still streaming")
    models = _available_models(session, battle)
    turn, history = _start_turn(session, settings, battle, turns, content)
    battle.last_finished_at = None
    answers = responses_of(session, [t.id for t in history] + [turn.id])
    rows = _reset_answers(session, turn, answers)
    plans = [
        _side_plan(settings, battle, models[side], rows[side], history, answers, content)
        for side in SIDES
    ]
    return TurnPlan(battle.id, turn.id, turn.idx, (plans[0], plans[1]))


def _available_models(session: Session, battle: Battle) -> dict[str, ModelEndpoint]:
    models = battle_models(session, battle)
    if any(m.status != "approved" or not m.healthy for m in models.values()):
        raise ArenaError(
            503,
            "model_unavailable",
            "a model in this battle is unavailable right now; try again later or start a new one",
        )
    return models


def _start_turn(
    session: Session, settings: Settings, battle: Battle, turns: list[BattleTurn], content: str
) -> tuple[BattleTurn, list[BattleTurn]]:
    """The turn to stream (the failed last one again, or a new one) and the turns before it."""
    last = turns[-1] if turns else None
    if last is not None and last.status == "failed":
        if last.content != content:
            raise ArenaError(
                409,
                "retry_mismatch",
                "the last turn failed; send the same message again to retry it",
            )
        last.status = "streaming"
        last.attempts += 1
        last.finished_at = None
        turn, history = last, turns[:-1]
    else:
        if len(turns) >= settings.max_turns:
            raise ArenaError(
                409, "too_many_turns", f"a battle has at most {settings.max_turns} turns"
            )
        turn = BattleTurn(battle_id=battle.id, idx=len(turns), content=content, created_at=utcnow())
        session.add(turn)
        history = turns
    try:
        session.flush()
    except IntegrityError:
        raise ArenaError(
            409, "turn_in_progress", "another message was sent at the same time"
        ) from None
    return turn, history


def _reset_answers(
    session: Session, turn: BattleTurn, answers: dict[tuple[int, str], BattleResponse]
) -> dict[str, BattleResponse]:
    """Each side's answer row for `turn`, emptied and marked streaming."""
    now = utcnow()
    rows: dict[str, BattleResponse] = {}
    for side in SIDES:
        resp = answers.get((turn.id, side))
        if resp is None:
            resp = BattleResponse(turn_id=turn.id, side=side)
            session.add(resp)
        resp.content, resp.status, resp.error, resp.finish_reason = "", "streaming", None, None
        resp.started_at, resp.finished_at = now, None
        rows[side] = resp
    session.flush()
    return rows


def _side_plan(
    settings: Settings,
    battle: Battle,
    model: ModelEndpoint,
    row: BattleResponse,
    history: list[BattleTurn],
    answers: dict[tuple[int, str], BattleResponse],
    content: str,
) -> SidePlan:
    """What one side is sent: the shared system message and user turns, its own answers."""
    side = row.side
    messages = [{"role": "system", "content": battle.system_message}]
    for past in history:
        messages.append({"role": "user", "content": past.content})
        messages.append({"role": "assistant", "content": answers[(past.id, side)].content})
    messages.append({"role": "user", "content": content})
    key = api_key_from_ref(settings.secret_key, model.api_key_ref)
    endpoint = Endpoint(model.base_url, model.api_model, key)
    return SidePlan(side, row.id, endpoint, messages, model.source == "owner", model.name)


def close_turn(session: Session, plan: TurnPlan, results: dict[str, SideResult]) -> bool:
    """Store both answers; the battle becomes votable only when both sides finished."""
    now = utcnow()
    for side in plan.sides:
        res = results[side.side]
        row = session.get(BattleResponse, side.response_id)
        assert row is not None
        row.content = res.content
        row.status = "done" if res.ok else "failed"
        row.finish_reason, row.error = res.finish_reason, res.error
        row.prompt_tokens, row.completion_tokens = res.prompt_tokens, res.completion_tokens
        row.ttft_ms, row.duration_ms = res.ttft_ms, res.duration_ms
        row.finished_at = res.finished_at or now
    ok = all(r.ok for r in results.values())
    turn = session.get(BattleTurn, plan.turn_id)
    battle = session.get(Battle, plan.battle_id)
    assert turn is not None and battle is not None
    turn.status = "done" if ok else "failed"
    turn.finished_at = now
    turn.categories = join_tags(categorize(_conversation(plan, results))) if ok else ""
    battle.last_finished_at = now if ok else None
    session.flush()
    return ok


def _conversation(plan: TurnPlan, results: dict[str, SideResult]) -> Conversation:
    a, b = plan.sides
    return Conversation.from_sides(
        a.messages, b.messages, results[a.side].content, results[b.side].content
    )
