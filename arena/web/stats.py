"""What the model page and the leaderboard filters need beyond the JSON API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from arena.battles.tables import Battle
from arena.models.tables import ModelEndpoint
from arena.votes.tables import Vote

# Models the public may look at: the ones that have been in the battle pool.
PUBLIC_STATUSES = ("approved", "suspended", "retired")


@dataclass
class Record:
    opponent: str
    wins: int = 0
    losses: int = 0
    ties: int = 0
    bothbad: int = 0

    @property
    def votes(self) -> int:
        return self.wins + self.losses + self.ties + self.bothbad

    @property
    def win_rate(self) -> float:
        """Ties of either kind count half, as in the ratings."""
        return (self.wins + 0.5 * (self.ties + self.bothbad)) / self.votes if self.votes else 0.0

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
    records: dict[str, Record] = {}
    for a, b, winner, n in rows:
        mine, theirs = ("A", b) if a == model.id else ("B", a)
        rec = records.setdefault(names[theirs], Record(names[theirs]))
        if winner == "tie":
            rec.ties += n
        elif winner == "bothbad":
            rec.bothbad += n
        elif winner == mine:
            rec.wins += n
        else:
            rec.losses += n
    return sorted(records.values(), key=lambda r: (-r.votes, r.opponent))


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
