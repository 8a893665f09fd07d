"""Turns of a battle: planning one (or a retry of a failed one), writing it, and storing
what each side answered.

A message is handled in three steps so that the model servers are asked as early as possible:
`plan_turn` reads the battle and checks the message can be sent (read-only); the proxy then
starts both streams while `write_turn` records the turn; `close_turn` stores both answers and
what a vote will need from them. `write_turn` decides races itself: a concurrent message to
the same battle loses on the unique (battle_id, idx) of a new turn, or on the attempt count
of a retried one, and gets 409.

Every function takes the request's session and only executes/flushes; the caller commits.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from arena.battles.service import already_voted, not_found, not_yours
from arena.battles.tables import Battle, BattleResponse, BattleTurn
from arena.categories import Conversation, categorize, join_tags
from arena.crypto import api_key_from_ref
from arena.db import utcnow
from arena.errors import ArenaError
from arena.models.tables import ModelEndpoint
from arena.settings import Settings
from arena.votes.inputs import Answer, Identity, VoteInputs, scan, terms_of
from arena.votes.vocabulary import SIDES
from serving.client import Endpoint


@dataclass(frozen=True)
class SidePlan:
    side: str
    endpoint: Endpoint
    messages: list[dict[str, str]]
    # What would name the model inside an answer (identity leaks are found at close).
    identity: Identity
    # Owner endpoints go through the SSRF-guarded client; operator ones are trusted.
    guarded: bool = False
    # The model's display name, for operator metrics only; never sent to the voter.
    label: str = ""


@dataclass(frozen=True)
class TurnPlan:
    battle_id: str
    index: int
    content: str
    sides: tuple[SidePlan, SidePlan]
    # A retry of the failed last turn: (its id, the attempts it had when planned).
    retry: tuple[int, int] | None = None


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


def in_progress(detail: str) -> ArenaError:
    return ArenaError(409, "turn_in_progress", detail)


def plan_turn(
    session: Session,
    settings: Settings,
    battle_id: str,
    content: str,
    client_hash: str | None,
) -> TurnPlan:
    """What the next turn (or the retry of the failed last one, same content) sends each
    side; reads only. Only the client that created the battle (`client_hash`) may continue."""
    check_message(settings, content)
    battle, models = _battle_and_models(session, battle_id, client_hash)
    if battle.voted_at is not None:
        raise already_voted()
    turns = turns_with_answers(session, battle.id)
    last = turns[-1] if turns else None
    retry = None
    if last is not None and last.status == "streaming":
        raise in_progress("the previous answer is still streaming")
    if last is not None and last.status == "failed":
        if last.content != content:
            raise ArenaError(
                409,
                "retry_mismatch",
                "the last turn failed; send the same message again to retry it",
            )
        retry = (last.id, last.attempts)
        history = turns[:-1]
    else:
        if len(turns) >= settings.max_turns:
            raise ArenaError(
                409, "too_many_turns", f"a battle has at most {settings.max_turns} turns"
            )
        history = turns
    if any(m.status != "approved" or not m.healthy for m in models.values()):
        raise ArenaError(
            503,
            "model_unavailable",
            "a model in this battle is unavailable right now; try again later or start a new one",
        )
    sides = tuple(
        _side_plan(settings, battle.system_message, models[side], side, history, content)
        for side in SIDES
    )
    return TurnPlan(battle.id, len(history), content, (sides[0], sides[1]), retry)


@dataclass(frozen=True)
class PastTurn:
    id: int
    idx: int
    content: str
    status: str
    attempts: int
    answers: dict[str, tuple[str, int | None]]  # side → (content, completion tokens)


def check_battle_id(battle_id: str) -> None:
    """404 for an id no battle can have, before any query (as `get_battle`)."""
    if len(battle_id) != 32 or not all(c in "0123456789abcdef" for c in battle_id):
        raise not_found()


# Built once: making the aliases and the statements costs more than running them.
_MODEL_A, _MODEL_B = aliased(ModelEndpoint), aliased(ModelEndpoint)
_BATTLE_AND_MODELS = (
    select(Battle, _MODEL_A, _MODEL_B)
    .join(_MODEL_A, _MODEL_A.id == Battle.model_a_id)
    .join(_MODEL_B, _MODEL_B.id == Battle.model_b_id)
    .where(Battle.id == bindparam("battle_id"))
)
_TURNS_WITH_ANSWERS = (
    select(
        BattleTurn.id,
        BattleTurn.idx,
        BattleTurn.content,
        BattleTurn.status,
        BattleTurn.attempts,
        BattleResponse.side,
        BattleResponse.content,
        BattleResponse.completion_tokens,
    )
    .outerjoin(BattleResponse, BattleResponse.turn_id == BattleTurn.id)
    .where(BattleTurn.battle_id == bindparam("battle_id"))
    .order_by(BattleTurn.idx)
)


def _battle_and_models(
    session: Session, battle_id: str, client_hash: str | None
) -> tuple[Battle, dict[str, ModelEndpoint]]:
    check_battle_id(battle_id)
    row = session.execute(_BATTLE_AND_MODELS, {"battle_id": battle_id}).first()
    if row is None:
        raise not_found()
    battle = row[0]
    if client_hash is None or battle.client_hash != client_hash:
        raise not_yours()
    return battle, {"A": row[1], "B": row[2]}


def turns_with_answers(session: Session, battle_id: str) -> list[PastTurn]:
    rows = session.execute(_TURNS_WITH_ANSWERS, {"battle_id": battle_id}).all()
    turns: dict[int, PastTurn] = {}
    for tid, idx, content, status, attempts, side, answer, tokens in rows:
        turn = turns.setdefault(idx, PastTurn(tid, idx, content, status, attempts, {}))
        if side is not None:
            turn.answers[side] = (answer, tokens)
    return [turns[i] for i in sorted(turns)]


def _side_plan(
    settings: Settings,
    system_message: str,
    model: ModelEndpoint,
    side: str,
    history: list[PastTurn],
    content: str,
) -> SidePlan:
    """What one side is sent: the shared system message and user turns, its own answers."""
    messages = [{"role": "system", "content": system_message}]
    for past in history:
        messages.append({"role": "user", "content": past.content})
        messages.append({"role": "assistant", "content": past.answers[side][0]})
    messages.append({"role": "user", "content": content})
    key = api_key_from_ref(settings.secret_key, model.api_key_ref)
    endpoint = Endpoint(model.base_url, model.api_model, key)
    identity = Identity(model.name, model.organization, tuple(model.aliases))
    return SidePlan(side, endpoint, messages, identity, model.source == "owner", model.name)


_OPEN_BATTLE = (
    update(Battle)
    .where(Battle.id == bindparam("b_id"), Battle.voted_at.is_(None))
    .values(last_finished_at=None)
)
# Core inserts on the tables (the ORM's bulk path does more work per row).
_TURNS = BattleTurn.metadata.tables["battle_turns"]
_NEW_TURN = insert(_TURNS).returning(_TURNS.c.id)
_NEW_ANSWERS = insert(BattleResponse.metadata.tables["battle_responses"])


def open_turn(
    session: Session,
    settings: Settings,
    battle_id: str,
    content: str,
    client_hash: str | None,
) -> Generator[TurnPlan, None, int]:
    """`plan_turn`, handed over (yielded) so both streams can start, then `write_turn` in
    the same unit of work: the turn's id."""
    plan = plan_turn(session, settings, battle_id, content, client_hash)
    yield plan
    return write_turn(session, plan)


def write_turn(session: Session, plan: TurnPlan) -> int:
    """Record the planned turn as streaming, with empty answers; its id. 409 when a
    concurrent message got there first, or a vote did."""
    now = utcnow()
    # Core on the session's connection: no ORM bookkeeping for rows it does not hold.
    conn = session.connection()
    # Locks the battle row (as a vote does first): no vote while this turn is streaming.
    opened = conn.execute(_OPEN_BATTLE, {"b_id": plan.battle_id})
    if opened.rowcount != 1:
        raise already_voted()
    answer = {"content": "", "status": "streaming", "error": None, "finish_reason": None}
    if plan.retry is None:
        turn = {"battle_id": plan.battle_id, "idx": plan.index, "content": plan.content}
        try:
            turn_id = conn.execute(
                _NEW_TURN, {**turn, "status": "streaming", "attempts": 1, "created_at": now}
            ).scalar_one()
        except IntegrityError:
            raise in_progress("another message was sent at the same time") from None
        conn.execute(
            _NEW_ANSWERS,
            [{"turn_id": turn_id, "side": s, "started_at": now, **answer} for s in SIDES],
        )
        return int(turn_id)
    turn_id, attempts = plan.retry
    retried = conn.execute(
        update(BattleTurn)
        .where(
            BattleTurn.id == turn_id,
            BattleTurn.status == "failed",
            BattleTurn.attempts == attempts,
        )
        .values(status="streaming", attempts=attempts + 1, finished_at=None, vote_inputs=None)
    )
    if retried.rowcount != 1:
        raise in_progress("another message was sent at the same time")
    reset = conn.execute(
        update(BattleResponse)
        .where(BattleResponse.turn_id == turn_id)
        .values(started_at=now, finished_at=None, **answer)
    )
    if reset.rowcount < len(SIDES):
        have = set(
            session.scalars(select(BattleResponse.side).where(BattleResponse.turn_id == turn_id))
        )
        missing = [s for s in SIDES if s not in have]
        conn.execute(
            insert(BattleResponse),
            [{"turn_id": turn_id, "side": s, "started_at": now, **answer} for s in missing],
        )
    return turn_id


def close_turn(
    session: Session, plan: TurnPlan, turn_id: int, results: dict[str, SideResult]
) -> bool:
    """Store both answers; the battle becomes votable only when both sides finished, with
    what its vote needs (categories, vote inputs) computed here, once."""
    now = utcnow()
    conn = session.connection()
    for side in plan.sides:
        res = results[side.side]
        conn.execute(
            update(BattleResponse)
            .where(BattleResponse.turn_id == turn_id, BattleResponse.side == side.side)
            .values(
                content=res.content,
                status="done" if res.ok else "failed",
                finish_reason=res.finish_reason,
                error=res.error,
                prompt_tokens=res.prompt_tokens,
                completion_tokens=res.completion_tokens,
                ttft_ms=res.ttft_ms,
                duration_ms=res.duration_ms,
                finished_at=res.finished_at or now,
            )
        )
    ok = all(r.ok for r in results.values())
    categories, inputs = "", None
    if ok:
        categories = join_tags(categorize(_conversation(plan, results)))
        inputs = _vote_inputs(session, plan, results).to_json()
    conn.execute(
        update(BattleTurn)
        .where(BattleTurn.id == turn_id)
        .values(
            status="done" if ok else "failed",
            finished_at=now,
            categories=categories,
            vote_inputs=inputs,
        )
    )
    conn.execute(
        update(Battle)
        .where(Battle.id == plan.battle_id)
        .values(last_finished_at=now if ok else None)
    )
    return ok


def _vote_inputs(session: Session, plan: TurnPlan, results: dict[str, SideResult]) -> VoteInputs:
    """The inputs through this turn: the previous turn's plus this one's, or all turns
    scanned again when the previous ones have none or were scanned with other names."""
    models = {s.side: s.identity for s in plan.sides}
    now = [
        Answer(plan.index, s.side, results[s.side].content, results[s.side].completion_tokens)
        for s in plan.sides
    ]
    if plan.index == 0:
        return scan(plan.content, models, now)
    stored = session.scalar(
        select(BattleTurn.vote_inputs).where(
            BattleTurn.battle_id == plan.battle_id, BattleTurn.idx == plan.index - 1
        )
    )
    inputs = VoteInputs.from_json(stored)
    if inputs is None or inputs.turns != plan.index or inputs.terms != terms_of(models):
        past = [t for t in turns_with_answers(session, plan.battle_id) if t.idx < plan.index]
        answers = [
            Answer(t.idx, side, *t.answers[side])
            for t in past
            for side in SIDES
            if side in t.answers
        ]
        return scan(past[0].content, models, answers + now)
    inputs.add(now)
    return inputs


def _conversation(plan: TurnPlan, results: dict[str, SideResult]) -> Conversation:
    a, b = plan.sides
    return Conversation.from_sides(
        a.messages, b.messages, results[a.side].content, results[b.side].content
    )
