from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from arena.db import Base, utcnow


class SnapshotVoteSet(Base):
    """The votes one recompute counted, fixed when it ran: every board of that recompute
    (views, categories) points here, and its download is these votes as they were then.

    Stored as runs of consecutive vote ids, ``[[lo, hi], ...]`` ascending: a gap is a vote
    that was excluded at the time or not yet committed, so the set never changes after
    birth even when such a vote commits or is excluded later. ``columns`` are the download
    columns of the time, so a column added to the export later leaves old digests intact.
    """

    __tablename__ = "snapshot_vote_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    runs: Mapped[list[list[int]]] = mapped_column(JSON)
    votes: Mapped[int]
    columns: Mapped[list[str]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LeaderboardSnapshot(Base):
    """A published board: how it was computed and from exactly which votes."""

    __tablename__ = "leaderboard_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    view: Mapped[str] = mapped_column(String(40), default="default", server_default="default")
    category: Mapped[str | None] = mapped_column(String(80))
    method: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # `arena ratings fit FILE --json *fit_args` on the votes download reproduces the rows.
    fit_args: Mapped[list[str]] = mapped_column(default=list, server_default="[]")
    vote_watermark: Mapped[int]
    # Null only for snapshots computed before vote sets existed (no download, no digest).
    vote_set_id: Mapped[int | None] = mapped_column(ForeignKey("snapshot_vote_sets.id"), index=True)
    # hex sha256 of the jsonl votes download
    sha256: Mapped[str] = mapped_column(String(64))
    votes_included: Mapped[int]
    votes_excluded: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What the recompute saw (max id and row count of votes and exclusions, the rating
    # settings): equal marks mean nothing moved, so the next recompute can skip.
    marks: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    computed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # The headline board (view default, no category) this board was recomputed with; null on
    # headline boards themselves. Every board of one recompute shares its vote set.
    headline_id: Mapped[int | None] = mapped_column(
        ForeignKey("leaderboard_snapshots.id"), index=True
    )
    # view=style: {feature: {coef, ci_low, ci_high}} (natural-log odds per standard deviation
    # of the feature); null on other views.
    style_coefficients: Mapped[dict[str, Any] | None] = mapped_column(JSON)


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
    # Fewest votes whose removal would put the next model down level with or above this one
    # (ratings.robustness); null for the last row, on the style view, and where removing
    # every vote that helps does not swap them.
    robustness: Mapped[int | None]
    # Serving speed measured from the arena's own battles when the board was computed (the
    # latest finished answers, arena/leaderboard/speed.py); null without any.
    ttft_ms_median: Mapped[float | None]
    tokens_per_s_median: Mapped[float | None]
