"""The whole-board rating history: one row per model per snapshot of one (view, category)
board, oldest snapshot first, for `GET /api/v1/leaderboard/history?format=...`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.exports.columns import BATCH, Columns
from arena.leaderboard.tables import LeaderboardSnapshot, SnapshotRow

HISTORY_COLUMNS = Columns.of(
    ("snapshot_id", "int64", "the snapshot's id; GET /api/v1/snapshots/{id} describes it"),
    ("computed_at", "string", "when the snapshot was computed, ISO 8601 (UTC)"),
    ("view", "string", "the board's view: default, or style (style-controlled ratings)"),
    ("category", "string", "the category the board is restricted to; null for all votes"),
    ("votes_included", "int64", "counted votes on this board in this snapshot"),
    ("model", "string", "the model this row rates"),
    ("rating", "float64", "Bradley-Terry rating on the Elo scale (mean 1000 unless anchored)"),
    ("ci_low", "float64", "lower end of the 95% interval"),
    ("ci_high", "float64", "upper end of the 95% interval"),
    ("rank", "int64", "1 + the number of models rated higher"),
    ("rank_ub", "int64", "1 + the number of models whose interval lies entirely above"),
    ("battles", "int64", "counted votes this model was in"),
    (
        "robustness",
        "int64",
        "fewest votes whose removal would swap this model with the next one down; "
        "null for the last row, on the style view, or when no removal does",
    ),
    (
        "ttft_ms_median",
        "float64",
        "median time to first token of the model's latest answers at the time, ms",
    ),
    (
        "tokens_per_s_median",
        "float64",
        "median completion tokens per second of the model's latest answers at the time",
    ),
)


def history_batches(
    session: Session, view: str, category: str | None, lo: int | None = None
) -> Iterator[list[dict[str, Any]]]:
    """The board's rows, from snapshot ``lo`` on (the /data page's size sample)."""
    category_is = (
        LeaderboardSnapshot.category.is_(None)
        if category is None
        else LeaderboardSnapshot.category == category
    )
    stmt = (
        select(SnapshotRow, LeaderboardSnapshot)
        .join(LeaderboardSnapshot, LeaderboardSnapshot.id == SnapshotRow.snapshot_id)
        .where(LeaderboardSnapshot.view == view, category_is)
        .where(SnapshotRow.snapshot_id >= (lo or 0))
        .order_by(SnapshotRow.snapshot_id, SnapshotRow.rank, SnapshotRow.model)
        .execution_options(yield_per=BATCH)
    )
    for part in session.execute(stmt).partitions(BATCH):
        yield [
            {
                "snapshot_id": snap.id,
                "computed_at": snap.computed_at.isoformat(),
                "view": snap.view,
                "category": snap.category,
                "votes_included": snap.votes_included,
                "model": row.model,
                "rating": row.rating,
                "ci_low": row.ci_low,
                "ci_high": row.ci_high,
                "rank": row.rank,
                "rank_ub": row.rank_ub,
                "battles": row.battles,
                "robustness": row.robustness,
                "ttft_ms_median": row.ttft_ms_median,
                "tokens_per_s_median": row.tokens_per_s_median,
            }
            for row, snap in part
        ]
