"""Casting a vote: once per battle, only on a finished last turn, with exclusion reasons."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arena.battles.identity import find_identity, identity_terms
from arena.battles.service import get_battle, responses_of, turns_of
from arena.clients import ClientIdentity
from arena.db import utcnow
from arena.errors import ArenaError
from arena.models.tables import ModelEndpoint
from arena.settings import Settings
from arena.votes.abuse import check_abuse
from arena.votes.style import ZERO, style_features
from arena.votes.tables import Vote, VoteExclusion


@dataclass(frozen=True)
class CastVote:
    vote: Vote
    revealed: dict[str, dict[str, str]]
    excluded: dict[str, str]


def reveal(models: dict[str, ModelEndpoint]) -> dict[str, dict[str, str]]:
    return {s: {"model": m.name, "organization": m.organization} for s, m in models.items()}


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
    battle = get_battle(session, battle_id, lock=True)
    if battle.client_hash != who.client_hash:
        raise ArenaError(403, "not_your_battle", "this battle belongs to another client")
    if battle.voted_at is not None:
        raise ArenaError(409, "already_voted", "this battle already has a vote")
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
    pair = (battle.model_a_id, battle.model_b_id)
    found = {
        m.id: m for m in session.scalars(select(ModelEndpoint).where(ModelEndpoint.id.in_(pair)))
    }
    resolved = {"A": found[battle.model_a_id], "B": found[battle.model_b_id]}
    answers = responses_of(session, [t.id for t in turns])
    now = utcnow()
    read_seconds = (
        (now - battle.last_finished_at).total_seconds() if battle.last_finished_at else None
    )
    style = {side: ZERO for side in ("A", "B")}
    tokens = {side: 0 for side in ("A", "B")}
    leaks: list[str] = []
    for side, model in resolved.items():
        terms = identity_terms(model.name, model.organization, model.aliases)
        for t in turns:
            text = answers[(t.id, side)].content
            style[side] = style[side] + style_features(text)
            tokens[side] += answers[(t.id, side)].completion_tokens or 0
            hit = find_identity(text, terms)
            if hit:
                leaks.append(f"side {side} named {hit!r} in turn {t.idx + 1}")
    vote = Vote(
        battle_id=battle.id,
        winner=winner,
        model_a_id=battle.model_a_id,
        model_b_id=battle.model_b_id,
        turns=len(turns),
        client_hash=who.client_hash,
        ip_hash=who.ip_hash,
        network_hash=who.network_hash,
        read_seconds=read_seconds,
        created_at=now,
        a_tokens=tokens["A"],
        b_tokens=tokens["B"],
        a_chars=style["A"].chars,
        b_chars=style["B"].chars,
        a_headers=style["A"].headers,
        b_headers=style["B"].headers,
        a_lists=style["A"].lists,
        b_lists=style["B"].lists,
        a_bold=style["A"].bold,
        b_bold=style["B"].bold,
    )
    flags = check_abuse(
        session,
        settings,
        client_hash=who.client_hash,
        network_hash=who.network_hash,
        trusted=who.trusted,
        winner=winner,
        model_a_id=battle.model_a_id,
        model_b_id=battle.model_b_id,
    )
    session.add(vote)
    battle.voted_at = now
    try:
        session.flush()
    except IntegrityError:
        raise ArenaError(409, "already_voted", "this battle already has a vote") from None
    excluded: dict[str, str] = {}
    if leaks:
        excluded["identity_leak"] = "; ".join(leaks)
    if read_seconds is not None and read_seconds < settings.min_read_seconds:
        excluded["too_fast"] = (
            f"voted {read_seconds:.2f} s after the answers finished "
            f"(minimum {settings.min_read_seconds:g} s)"
        )
    for flag in flags:
        excluded[flag.reason] = flag.detail
        for earlier_id in flag.earlier_vote_ids:
            earlier = session.get(Vote, earlier_id)
            if earlier is not None:
                exclude(session, earlier, flag.reason, flag.detail)
    for reason, detail in excluded.items():
        exclude(session, vote, reason, detail)
    session.flush()
    return CastVote(vote, reveal(resolved), excluded)
