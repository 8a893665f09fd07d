"""Battles: drawing a pair, opening turns (and retries), recording what each side answered.

Every function takes the request's session and only adds/flushes; the caller commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arena.battles.pairing import draw_pair
from arena.battles.tables import Battle, BattleResponse, BattleTurn, SamplingDraw
from arena.clients import ClientIdentity
from arena.crypto import api_key_from_ref
from arena.db import utcnow
from arena.errors import ArenaError
from arena.models.service import battle_pool
from arena.models.tables import ModelEndpoint
from arena.settings import Settings
from serving.client import Endpoint

SIDES = ("A", "B")


def not_found() -> ArenaError:
    return ArenaError(404, "battle_not_found", "no battle with this id")


def create_battle(session: Session, identity: ClientIdentity, system_message: str) -> Battle:
    pool = battle_pool(session)
    if len(pool) < 2:
        raise ArenaError(
            503, "no_models_available", "fewer than two models are available right now; try later"
        )
    draw = draw_pair(session, pool)
    first, second = draw.pair
    # Which model sits on side A is a fair coin, independent of the draw.
    if secrets.randbits(1):
        first, second = second, first
    battle = Battle(
        id=secrets.token_hex(16),
        model_a_id=first.id,
        model_b_id=second.id,
        system_message=system_message,
        client_hash=identity.client_hash,
        ip_hash=identity.ip_hash,
        network_hash=identity.network_hash,
    )
    session.add(battle)
    session.flush()
    session.add(
        SamplingDraw(
            battle_id=battle.id,
            model_a_id=first.id,
            model_b_id=second.id,
            probability=draw.probability,
            pool_size=len(pool),
        )
    )
    session.flush()
    return battle


def get_battle(session: Session, battle_id: str, *, lock: bool = False) -> Battle:
    if len(battle_id) != 32 or not all(c in "0123456789abcdef" for c in battle_id):
        raise not_found()
    stmt = select(Battle).where(Battle.id == battle_id)
    if lock:
        stmt = stmt.with_for_update()
    battle = session.scalar(stmt)
    if battle is None:
        raise not_found()
    return battle


def turns_of(session: Session, battle_id: str) -> list[BattleTurn]:
    stmt = select(BattleTurn).where(BattleTurn.battle_id == battle_id).order_by(BattleTurn.idx)
    return list(session.scalars(stmt))


def responses_of(session: Session, turn_ids: list[int]) -> dict[tuple[int, str], BattleResponse]:
    if not turn_ids:
        return {}
    rows = session.scalars(select(BattleResponse).where(BattleResponse.turn_id.in_(turn_ids)))
    return {(r.turn_id, r.side): r for r in rows}


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


def _models_of(session: Session, battle: Battle) -> dict[str, ModelEndpoint]:
    ids = (battle.model_a_id, battle.model_b_id)
    found = {
        m.id: m for m in session.scalars(select(ModelEndpoint).where(ModelEndpoint.id.in_(ids)))
    }
    return {"A": found[battle.model_a_id], "B": found[battle.model_b_id]}


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
    client_hash: str | None = None,
) -> TurnPlan:
    """Start a new turn, or retry the last one when it failed and the content is the same.
    With `client_hash`, only the client that created the battle may continue it."""
    check_message(settings, content)
    battle = get_battle(session, battle_id, lock=True)
    if client_hash is not None and battle.client_hash != client_hash:
        raise ArenaError(403, "not_your_battle", "this battle belongs to another client")
    if battle.voted_at is not None:
        raise ArenaError(409, "battle_voted", "this battle has been voted on; start a new one")
    turns = turns_of(session, battle.id)
    last = turns[-1] if turns else None
    if last is not None and last.status == "streaming":
        raise ArenaError(409, "turn_in_progress", "the previous answer is still streaming")
    models = _models_of(session, battle)
    if any(m.status != "approved" or not m.healthy for m in models.values()):
        raise ArenaError(
            503,
            "model_unavailable",
            "a model in this battle is unavailable right now; try again later or start a new one",
        )
    now = utcnow()
    if last is not None and last.status == "failed":
        if last.content != content:
            raise ArenaError(
                409,
                "retry_mismatch",
                "the last turn failed; send the same message again to retry it",
            )
        turn = last
        turn.status = "streaming"
        turn.attempts += 1
        turn.finished_at = None
        history = turns[:-1]
    else:
        if len(turns) >= settings.max_turns:
            raise ArenaError(
                409, "too_many_turns", f"a battle has at most {settings.max_turns} turns"
            )
        turn = BattleTurn(battle_id=battle.id, idx=len(turns), content=content, created_at=now)
        session.add(turn)
        history = turns
    try:
        session.flush()
    except IntegrityError:
        raise ArenaError(
            409, "turn_in_progress", "another message was sent at the same time"
        ) from None
    battle.last_finished_at = None
    answers = responses_of(session, [t.id for t in history] + [turn.id])
    rows = {}
    for side in SIDES:
        resp = answers.get((turn.id, side))
        if resp is None:
            resp = BattleResponse(turn_id=turn.id, side=side)
            session.add(resp)
        resp.content, resp.status, resp.error, resp.finish_reason = "", "streaming", None, None
        resp.started_at, resp.finished_at = now, None
        rows[side] = resp
    session.flush()
    plans = []
    for side in SIDES:
        resp = rows[side]
        model = models[side]
        messages = [{"role": "system", "content": battle.system_message}]
        for past in history:
            messages.append({"role": "user", "content": past.content})
            messages.append({"role": "assistant", "content": answers[(past.id, side)].content})
        messages.append({"role": "user", "content": content})
        key = api_key_from_ref(settings.secret_key, model.api_key_ref)
        endpoint = Endpoint(model.base_url, model.api_model, key)
        plans.append(
            SidePlan(side, resp.id, endpoint, messages, model.source == "owner", model.name)
        )
    return TurnPlan(battle.id, turn.id, turn.idx, (plans[0], plans[1]))


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
    battle.last_finished_at = now if ok else None
    session.flush()
    return ok


def votable(session: Session, battle: Battle) -> bool:
    if battle.voted_at is not None:
        return False
    last = session.scalar(
        select(BattleTurn).where(BattleTurn.battle_id == battle.id).order_by(BattleTurn.idx.desc())
    )
    return last is not None and last.status == "done"


def turn_count(session: Session, battle_id: str) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(BattleTurn).where(BattleTurn.battle_id == battle_id)
        )
        or 0
    )
