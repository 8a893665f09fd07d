"""Abuse signals on the vote stream. A flagged vote is kept and excluded with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from arena.clients import ClientIdentity
from arena.db import utcnow
from arena.settings import Settings
from arena.votes.tables import Vote


@dataclass(frozen=True)
class Flag:
    reason: str
    detail: str
    # Earlier votes of the same client to exclude with this flag (the pattern spans them).
    earlier_vote_ids: tuple[int, ...] = ()


def _favoured_model(winner: str, model_a_id: int, model_b_id: int) -> int | None:
    return {"A": model_a_id, "B": model_b_id}.get(winner)


def client_favours_one_model(
    session: Session, settings: Settings, client_hash: str, favoured: int | None
) -> Flag | None:
    """A client whose decisive votes nearly all go to one model, whichever side it sits on."""
    if favoured is None:
        return None
    winner_id = case(
        (Vote.winner == "A", Vote.model_a_id), (Vote.winner == "B", Vote.model_b_id), else_=None
    )
    rows = session.execute(
        select(Vote.id, winner_id.label("w"), Vote.model_a_id, Vote.model_b_id).where(
            Vote.client_hash == client_hash
        )
    ).all()
    involving = [r for r in rows if favoured in (r.model_a_id, r.model_b_id)]
    decided = [r for r in involving if r.w is not None]
    total = len(decided) + 1
    if total < settings.abuse_min_votes:
        return None
    share = (sum(1 for r in decided if r.w == favoured) + 1) / total
    if share < settings.abuse_same_model_share:
        return None
    return Flag(
        "abuse_pattern",
        f"client favoured one model in {share:.0%} of {total} decisive votes involving it",
        tuple(r.id for r in decided if r.w == favoured),
    )


def network_burst(session: Session, settings: Settings, network_hash: str) -> Flag | None:
    since = utcnow() - timedelta(hours=1)
    n = (
        session.scalar(
            select(func.count())
            .select_from(Vote)
            .where(and_(Vote.network_hash == network_hash, Vote.created_at >= since))
        )
        or 0
    )
    if n + 1 <= settings.abuse_network_votes_per_hour:
        return None
    return Flag("abuse_pattern", f"{n + 1} votes from one network within an hour")


def check_abuse(
    session: Session, settings: Settings, who: ClientIdentity, vote: Vote
) -> list[Flag]:
    """Flags on `who` casting `vote`; `vote` must not be in the session yet (it is counted
    once here, not again among the earlier votes)."""
    flags = []
    favoured = _favoured_model(vote.winner, vote.model_a_id, vote.model_b_id)
    fav = client_favours_one_model(session, settings, who.client_hash, favoured)
    if fav:
        flags.append(fav)
    if not who.trusted:
        burst = network_burst(session, settings, who.network_hash)
        if burst:
            flags.append(burst)
    return flags
