from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from arena.db import Base, utcnow


class LeaderboardSnapshot(Base):
    """A published board: how it was computed and from exactly which votes."""

    __tablename__ = "leaderboard_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    method: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    vote_watermark: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    votes_included: Mapped[int]
    votes_excluded: Mapped[dict[str, Any]] = mapped_column(default=dict)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class SnapshotRow(Base):
    __tablename__ = "snapshot_rows"

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("leaderboard_snapshots.id"), primary_key=True
    )
    model_id: Mapped[int] = mapped_column(ForeignKey("model_endpoints.id"), primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    rating: Mapped[float]
    ci_low: Mapped[float]
    ci_high: Mapped[float]
    rank: Mapped[int]
    rank_ub: Mapped[int]
    battles: Mapped[int]
