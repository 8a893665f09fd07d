"""Casting a vote: once per battle, only on a finished last turn, with exclusion reasons.

A vote is cast in four steps: load the battle and check it can be voted on, scan the
answers (style features, tokens, identity leaks), build the vote row, and record it with
the reasons it is excluded for, if any.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
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
from arena.clients import ClientIdentity
from arena.db import utcnow
from arena.errors import ArenaError
from arena.models.tables import ModelEndpoint
from arena.settings import Settings
from arena.votes.abuse import Flag, check_abuse
from arena.votes.dedup import REASON as DUPLICATE_PROMPT
from arena.votes.dedup import duplicate_prompt
from arena.votes.identity import find_identity, identity_terms
from arena.votes.style import ZERO, StyleFeatures, style_columns, style_features
from arena.votes.tables import Vote, VoteExclusion
from arena.votes.vocabulary import SIDES


@dataclass(frozen=True)
class CastVote:
    vote: Vote
    revealed: dict[str, dict[str, str]]
    excluded: dict[str, str]


@dataclass
class Scan:
    """What the answers of a battle say, summed over its turns."""

    style: dict[str, StyleFeatures] = field(default_factory=lambda: dict.fromkeys(SIDES, ZERO))
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIDES, 0))
    leaks: list[str] = field(default_factory=list)


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
    battle, turns = _votable_battle(session, battle_id, who)
    models = battle_models(session, battle)
    scan = _scan_answers(models, turns, responses_of(session, [t.id for t in turns]))
    vote = _build_vote(battle, winner, len(turns), who, scan)
    # Computed when the last turn closed (arena.categories); the vote keeps them as they were.
    vote.categories = turns[-1].categories
    # Judged before the vote joins the session, so it is not counted among the earlier ones.
    flags = check_abuse(session, settings, who, vote)
    session.add(vote)
    battle.voted_at = vote.created_at
    try:
        session.flush()
    except IntegrityError:
        raise already_voted() from None
    excluded = _exclusion_reasons(settings, vote, scan, flags)
    duplicate = duplicate_prompt(session, settings, turns[0].content)
    if duplicate:
        excluded[DUPLICATE_PROMPT] = duplicate
    _apply_exclusions(session, vote, excluded, flags)
    return CastVote(vote, reveal(models), excluded)


def _votable_battle(
    session: Session, battle_id: str, who: ClientIdentity
) -> tuple[Battle, list[BattleTurn]]:
    """The caller's battle (locked) and its turns, if its last turn finished unvoted."""
    battle = owned_battle(session, battle_id, who.client_hash, lock=True)
    if battle.voted_at is not None:
        raise already_voted()
    turns = turns_of(session, battle.id)
    if not turns:
        raise ArenaError(
            409, "battle_not_ready", "ask something first; there is nothing to vote on"
        )
    if turns[-1].status != "done":
        state = (
            "is still streaming" if turns[-1].status == "streaming" else "failed; retry it first"
        )
        raise ArenaError(409, "battle_not_ready", f"the last answer {state}")
    return battle, turns


def _scan_answers(
    models: dict[str, ModelEndpoint],
    turns: list[BattleTurn],
    answers: dict[tuple[int, str], BattleResponse],
) -> Scan:
    scan = Scan()
    for side, model in models.items():
        terms = identity_terms(model.name, model.organization, model.aliases)
        for t in turns:
            answer = answers[(t.id, side)]
            scan.style[side] = scan.style[side] + style_features(answer.content)
            scan.tokens[side] += answer.completion_tokens or 0
            hit = find_identity(answer.content, terms)
            if hit:
                scan.leaks.append(f"side {side} named {hit!r} in turn {t.idx + 1}")
    return scan


def _build_vote(battle: Battle, winner: str, turns: int, who: ClientIdentity, scan: Scan) -> Vote:
    now = utcnow()
    read_seconds = (
        (now - battle.last_finished_at).total_seconds() if battle.last_finished_at else None
    )
    return Vote(
        battle_id=battle.id,
        winner=winner,
        model_a_id=battle.model_a_id,
        model_b_id=battle.model_b_id,
        turns=turns,
        client_hash=who.client_hash,
        ip_hash=who.ip_hash,
        network_hash=who.network_hash,
        read_seconds=read_seconds,
        created_at=now,
        **style_columns(scan.style, scan.tokens),
    )


def _exclusion_reasons(
    settings: Settings, vote: Vote, scan: Scan, flags: list[Flag]
) -> dict[str, str]:
    excluded: dict[str, str] = {}
    if scan.leaks:
        excluded["identity_leak"] = "; ".join(scan.leaks)
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
    """Exclude the vote for each reason, and the earlier votes a flag's pattern spans."""
    for flag in flags:
        for earlier_id in flag.earlier_vote_ids:
            earlier = session.get(Vote, earlier_id)
            if earlier is not None:
                exclude(session, earlier, flag.reason, flag.detail)
    for reason, detail in excluded.items():
        exclude(session, vote, reason, detail)
    session.flush()
