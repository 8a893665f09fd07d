"""Casting a vote: once per battle, only on a finished last turn, with exclusion reasons.

A vote is a handful of statements in one transaction: claim the battle (one UPDATE that
locks its row), read its last turn and models, the abuse rules' two reads, the prompt's
counter, the vote row and its exclusions. Everything a vote needs from the answers (style
features, tokens, identity leaks, the prompt's hash, categories) was computed when the turn
closed (arena/votes/inputs.py); only turns stored without it are scanned here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from arena.battles.service import already_voted, get_battle, not_yours
from arena.battles.tables import Battle, BattleTurn
from arena.battles.turns import check_battle_id, turns_with_answers
from arena.clients import ClientIdentity
from arena.db import utcnow
from arena.errors import ArenaError
from arena.models.tables import ModelEndpoint
from arena.settings import Settings
from arena.votes.abuse import Flag, check_abuse
from arena.votes.dedup import REASON as DUPLICATE_PROMPT
from arena.votes.dedup import duplicate_digest
from arena.votes.inputs import Answer, Identity, VoteInputs, scan, terms_of
from arena.votes.style import style_columns
from arena.votes.tables import Vote, VoteExclusion
from arena.votes.vocabulary import SIDES


@dataclass(frozen=True)
class CastVote:
    vote: Vote
    revealed: dict[str, dict[str, str]]
    excluded: dict[str, str]


@dataclass(frozen=True)
class Votable:
    """A claimed battle: its models by side and what its last (done) turn left for a vote."""

    battle_id: str
    model_ids: dict[str, int]
    models: dict[str, Identity]
    turns: int
    categories: str
    inputs: VoteInputs
    last_finished_at: datetime | None


def reveal(models: dict[str, ModelEndpoint]) -> dict[str, dict[str, str]]:
    return {s: {"model": m.name, "organization": m.organization} for s, m in models.items()}


def winner_of(session: Session, battle_id: str) -> str | None:
    return session.scalar(select(Vote.winner).where(Vote.battle_id == battle_id))


def exclude(session: Session, vote: Vote, reason: str, detail: str) -> None:
    """Record an exclusion once per (vote, reason); the vote row itself is never touched
    beyond its `included` flag."""
    exists = session.scalar(
        select(VoteExclusion.id).where(
            VoteExclusion.vote_id == vote.id, VoteExclusion.reason == reason
        )
    )
    if exists is None:
        session.add(VoteExclusion(vote_id=vote.id, reason=reason, detail=detail[:1000]))
    vote.included = False


def cast_vote(
    session: Session, settings: Settings, battle_id: str, winner: str, who: ClientIdentity
) -> CastVote:
    now = utcnow()
    battle = _votable_battle(session, battle_id, who, now)
    vote = _build_vote(battle, winner, who, now)
    # Judged before the vote is stored, so it is not counted among the earlier ones.
    flags = check_abuse(session, settings, who, vote)
    excluded = _exclusion_reasons(settings, vote, battle.inputs, flags)
    duplicate = duplicate_digest(session, settings, battle.inputs.prompt_hash)
    if duplicate:
        excluded[DUPLICATE_PROMPT] = duplicate
    vote.included = not excluded
    try:
        vote.id = session.connection().execute(_INSERT_VOTE, _columns(vote)).scalar_one()
    except IntegrityError:
        raise already_voted() from None
    _apply_exclusions(session, vote, excluded, flags)
    revealed = {
        s: {"model": m.name, "organization": m.organization} for s, m in battle.models.items()
    }
    return CastVote(vote, revealed, excluded)


# Built once: making the aliases and the statements costs more than running them.
_CLAIM = (
    update(Battle)
    .where(
        Battle.id == bindparam("b_id"),
        Battle.client_hash == bindparam("b_client"),
        Battle.voted_at.is_(None),
    )
    .values(voted_at=bindparam("b_now"))
    .returning(Battle.model_a_id, Battle.model_b_id, Battle.last_finished_at)
)
_MODEL_A, _MODEL_B = aliased(ModelEndpoint), aliased(ModelEndpoint)
_LAST_IDX = (
    select(func.max(BattleTurn.idx))
    .where(BattleTurn.battle_id == bindparam("battle_id"))
    .scalar_subquery()
)
_LAST_TURN_AND_MODELS = (
    select(
        BattleTurn.idx,
        BattleTurn.status,
        BattleTurn.categories,
        BattleTurn.vote_inputs,
        _MODEL_A.name,
        _MODEL_A.organization,
        _MODEL_A.aliases,
        _MODEL_B.name,
        _MODEL_B.organization,
        _MODEL_B.aliases,
    )
    .select_from(Battle)
    .join(_MODEL_A, _MODEL_A.id == Battle.model_a_id)
    .join(_MODEL_B, _MODEL_B.id == Battle.model_b_id)
    .outerjoin(BattleTurn, and_(BattleTurn.battle_id == Battle.id, BattleTurn.idx == _LAST_IDX))
    .where(Battle.id == bindparam("battle_id"))
)


def _votable_battle(
    session: Session, battle_id: str, who: ClientIdentity, now: datetime
) -> Votable:
    """Claim the caller's battle for this vote and read what the vote needs, if its last
    turn finished unvoted (else the error, and the claim is rolled back with it)."""
    check_battle_id(battle_id)
    # The claim takes the battle's row lock first, as a new turn does (turns.write_turn), so
    # the turn read next is the last one and stays so until the vote commits.
    # Core on the session's connection: no ORM bookkeeping for rows it does not hold.
    claimed = (
        session.connection()
        .execute(_CLAIM, {"b_id": battle_id, "b_client": who.client_hash, "b_now": now})
        .first()
    )
    if claimed is None:
        battle = get_battle(session, battle_id)  # 404 first, then 403, then 409
        if battle.client_hash != who.client_hash:
            raise not_yours()
        raise already_voted()
    row = session.connection().execute(_LAST_TURN_AND_MODELS, {"battle_id": battle_id}).one()
    idx, status, categories, stored = row[0], row[1], row[2], row[3]
    if idx is None:
        raise ArenaError(
            409, "battle_not_ready", "ask something first; there is nothing to vote on"
        )
    if status != "done":
        state = "is still streaming" if status == "streaming" else "failed; retry it first"
        raise ArenaError(409, "battle_not_ready", f"the last answer {state}")
    models = {
        "A": Identity(row[4], row[5], tuple(row[6] or ())),
        "B": Identity(row[7], row[8], tuple(row[9] or ())),
    }
    inputs = VoteInputs.from_json(stored)
    if inputs is None or inputs.turns != idx + 1 or inputs.terms != terms_of(models):
        # Stored before the inputs existed, or the models' names changed since: scan again.
        inputs = _scan_turns(session, battle_id, models)
    return Votable(
        battle_id,
        {"A": claimed.model_a_id, "B": claimed.model_b_id},
        models,
        idx + 1,
        categories,
        inputs,
        claimed.last_finished_at,
    )


def _scan_turns(session: Session, battle_id: str, models: dict[str, Identity]) -> VoteInputs:
    turns = turns_with_answers(session, battle_id)
    answers = [Answer(t.idx, s, *t.answers[s]) for t in turns for s in SIDES if s in t.answers]
    return scan(turns[0].content, models, answers)


def _build_vote(battle: Votable, winner: str, who: ClientIdentity, now: datetime) -> Vote:
    finished = battle.last_finished_at
    return Vote(
        battle_id=battle.battle_id,
        winner=winner,
        model_a_id=battle.model_ids["A"],
        model_b_id=battle.model_ids["B"],
        turns=battle.turns,
        client_hash=who.client_hash,
        ip_hash=who.ip_hash,
        network_hash=who.network_hash,
        read_seconds=(now - finished).total_seconds() if finished else None,
        created_at=now,
        # Computed when the last turn closed (arena.categories); the vote keeps them as they were.
        categories=battle.categories,
        **style_columns(battle.inputs.style, battle.inputs.tokens),
    )


# Core inserts on the tables (the ORM's insert path coerces every value again per call).
_VOTES = Vote.metadata.tables["votes"]
_INSERT_VOTE = insert(_VOTES).returning(_VOTES.c.id)
_INSERT_EXCLUSIONS = insert(VoteExclusion.metadata.tables["vote_exclusions"])


def _columns(vote: Vote) -> dict[str, Any]:
    """The vote's set attributes (columns left unset keep their defaults)."""
    state = inspect(vote).dict
    return {c.key: state[c.key] for c in Vote.__table__.columns if c.key in state}


def _exclusion_reasons(
    settings: Settings, vote: Vote, inputs: VoteInputs, flags: list[Flag]
) -> dict[str, str]:
    excluded: dict[str, str] = {}
    leaks = inputs.leak_detail()
    if leaks:
        excluded["identity_leak"] = leaks
    read_seconds = vote.read_seconds
    if read_seconds is not None and read_seconds < settings.min_read_seconds:
        excluded["too_fast"] = (
            f"voted {read_seconds:.2f} s after the answers finished "
            f"(minimum {settings.min_read_seconds:g} s)"
        )
    for flag in flags:
        excluded[flag.reason] = flag.detail
    return excluded


def _apply_exclusions(
    session: Session, vote: Vote, excluded: dict[str, str], flags: list[Flag]
) -> None:
    """Record the new vote's reasons, and exclude the earlier votes a flag's pattern spans."""
    for flag in flags:
        for earlier_id in flag.earlier_vote_ids:
            earlier = session.get(Vote, earlier_id)
            if earlier is not None:
                exclude(session, earlier, flag.reason, flag.detail)
    if flags:
        session.flush()
    if excluded:
        # A new vote has no exclusions yet: one insert, no lookup per reason.
        session.connection().execute(
            _INSERT_EXCLUSIONS,
            [{"vote_id": vote.id, "reason": r, "detail": d[:1000]} for r, d in excluded.items()],
        )
