"""What the model page and the leaderboard filters need beyond the JSON API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from arena.battles.tables import Battle
from arena.models.tables import ModelEndpoint
from arena.votes.tables import Vote
from ratings.winrates import win_rates

# Models the public may look at: the ones that have been in the battle pool.
PUBLIC_STATUSES = ("approved", "suspended", "retired")


@dataclass(frozen=True)
class Record:
    """One opponent's row on the model page, from the page model's point of view."""

    opponent: str
    wins: int
    losses: int
    ties: int
    bothbad: int
    win_rate: float

    @property
    def votes(self) -> int:
        return self.wins + self.losses + self.ties + self.bothbad

    @property
    def heat(self) -> int:
        """0..10, for the heatmap colour class."""
        return round(self.win_rate * 10)


def public_model(session: Session, name: str) -> ModelEndpoint | None:
    return session.scalar(
        select(ModelEndpoint).where(
            ModelEndpoint.name == name, ModelEndpoint.status.in_(PUBLIC_STATUSES)
        )
    )


def head_to_head(session: Session, model: ModelEndpoint) -> list[Record]:
    """Included votes against each opponent, from this model's point of view."""
    names: dict[int, str] = {
        mid: name for mid, name in session.execute(select(ModelEndpoint.id, ModelEndpoint.name))
    }
    rows = session.execute(
        select(Vote.model_a_id, Vote.model_b_id, Vote.winner, func.count())
        .where(
            Vote.included.is_(True),
            or_(Vote.model_a_id == model.id, Vote.model_b_id == model.id),
        )
        .group_by(Vote.model_a_id, Vote.model_b_id, Vote.winner)
    )
    tally: dict[str, list[int]] = {}  # opponent -> [wins, losses, ties, bothbad]
    column = {"tie": 2, "bothbad": 3}
    for a, b, winner, n in rows:
        mine, theirs = ("A", b) if a == model.id else ("B", a)
        cells = tally.setdefault(names[theirs], [0, 0, 0, 0])
        cells[column.get(winner, 0 if winner == mine else 1)] += n
    if not tally:
        return []
    wins, losses, ties, bothbad = np.array(list(tally.values())).T
    rates = win_rates(wins, losses, ties + bothbad)
    records = [
        Record(name, won, lost, tied, bad, float(rate))
        for (name, (won, lost, tied, bad)), rate in zip(tally.items(), rates, strict=True)
    ]
    return sorted(records, key=lambda r: (-r.votes, r.opponent))


def counts(session: Session, model: ModelEndpoint) -> dict[str, int]:
    involved = or_(Battle.model_a_id == model.id, Battle.model_b_id == model.id)
    battles = session.scalar(select(func.count()).select_from(Battle).where(involved)) or 0
    voted = or_(Vote.model_a_id == model.id, Vote.model_b_id == model.id)
    votes = session.scalar(select(func.count()).select_from(Vote).where(voted)) or 0
    included = (
        session.scalar(select(func.count()).select_from(Vote).where(voted, Vote.included.is_(True)))
        or 0
    )
    return {"battles": battles, "votes": votes, "votes_included": included}


@dataclass(frozen=True)
class Filters:
    license: str = ""
    organization: str = ""

    @property
    def active(self) -> bool:
        return bool(self.license or self.organization)

    def keep(self, row: dict[str, Any]) -> bool:
        if self.license and row["license"] != self.license:
            return False
        return not (self.organization and row["organization"] != self.organization)
