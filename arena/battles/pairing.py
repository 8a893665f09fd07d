"""Which two models meet: the ratings engine's pair weights over the current pool."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arena.leaderboard.tables import LeaderboardSnapshot, SnapshotRow
from arena.models.tables import ModelEndpoint
from ratings.sampling import pair_probabilities


@dataclass(frozen=True)
class Draw:
    pair: tuple[ModelEndpoint, ModelEndpoint]
    probability: float


def _latest_rows(session: Session) -> dict[int, SnapshotRow]:
    # The headline board only: style and category boards of the same recompute are stored
    # after it, and a category board (which voters' prompts decide) must not steer pairing.
    latest = session.scalar(
        select(func.max(LeaderboardSnapshot.id)).where(
            LeaderboardSnapshot.view == "default", LeaderboardSnapshot.category.is_(None)
        )
    )
    if latest is None:
        return {}
    rows = session.scalars(select(SnapshotRow).where(SnapshotRow.snapshot_id == latest))
    return {r.model_id: r for r in rows}


def draw_pair(session: Session, pool: list[ModelEndpoint]) -> Draw:
    ids = [m.id for m in pool]
    rows = _latest_rows(session)
    # Models not on the board yet have an unbounded interval: they overlap everyone.
    low = np.array([rows[i].ci_low if i in rows else -np.inf for i in ids])
    high = np.array([rows[i].ci_high if i in rows else np.inf for i in ids])
    # Battles per model from the latest board (not a count over the whole sampling ledger,
    # which would grow with every battle ever drawn); unrated models count as new.
    battles = np.array([float(rows[i].battles) if i in rows else 0.0 for i in ids])
    probs = pair_probabilities(low, high, battles)
    rng = np.random.default_rng(secrets.randbits(64))
    flat = probs[np.triu_indices(len(ids), k=1)]
    k = int(rng.choice(len(flat), p=flat / flat.sum()))
    i, j = (int(x[k]) for x in np.triu_indices(len(ids), k=1))
    return Draw((pool[i], pool[j]), float(flat[k] / flat.sum()))
