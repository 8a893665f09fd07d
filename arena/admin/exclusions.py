"""The exclusion audit ledger as the operator reads it: newest first, by reason, counted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arena.votes.tables import Vote, VoteExclusion


def ledger(
    session: Session, *, reason: str | None = None, limit: int = 50, before: int | None = None
) -> dict[str, Any]:
    """One page of exclusions with an id below `before`; `next_before` continues it."""
    stmt = (
        select(
            VoteExclusion.id,
            VoteExclusion.vote_id,
            Vote.battle_id,
            VoteExclusion.reason,
            VoteExclusion.detail,
            VoteExclusion.created_at,
        )
        .join(Vote, Vote.id == VoteExclusion.vote_id)
        .order_by(VoteExclusion.id.desc())
        .limit(limit + 1)  # one more than asked says whether an older page exists
    )
    if reason:
        stmt = stmt.where(VoteExclusion.reason == reason)
    if before is not None:
        stmt = stmt.where(VoteExclusion.id < before)
    rows = [dict(r._mapping) for r in session.execute(stmt)]
    more = len(rows) > limit
    rows = rows[:limit]
    return {"exclusions": rows, "next_before": rows[-1]["id"] if more else None}


def counts(session: Session) -> dict[str, Any]:
    """Exclusions per reason (a vote excluded for two reasons counts in both) and the
    number of distinct votes excluded."""
    per_reason = session.execute(
        select(VoteExclusion.reason, func.count())
        .group_by(VoteExclusion.reason)
        .order_by(func.count().desc(), VoteExclusion.reason)
    ).all()
    votes = session.scalar(select(func.count(func.distinct(VoteExclusion.vote_id)))) or 0
    return {"counts": {reason: n for reason, n in per_reason}, "votes_excluded": votes}
