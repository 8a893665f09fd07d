"""The board as published: the current snapshot's rows, a model's history, a snapshot's
provenance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.errors import ArenaError
from arena.exports.columns import VOTE_COLUMNS, Columns
from arena.leaderboard.service import latest, row_numbers
from arena.leaderboard.tables import LeaderboardSnapshot, SnapshotRow, SnapshotVoteSet
from arena.models.tables import ModelEndpoint


def board(session: Session, snapshot: LeaderboardSnapshot | None) -> dict[str, Any]:
    if snapshot is None:
        return {
            "snapshot_id": None,
            "computed_at": None,
            "view": "default",
            "category": None,
            "votes_included": 0,
            "votes_excluded": {},
            "method": None,
            "models": [],
        }
    rows = session.execute(
        select(SnapshotRow, ModelEndpoint.license, ModelEndpoint.organization)
        .join(ModelEndpoint, ModelEndpoint.id == SnapshotRow.model_id)
        .where(SnapshotRow.snapshot_id == snapshot.id)
        .order_by(SnapshotRow.rank, SnapshotRow.model)
    ).all()
    return {
        "snapshot_id": snapshot.id,
        "computed_at": snapshot.computed_at,
        "view": snapshot.view,
        "category": snapshot.category,
        "votes_included": snapshot.votes_included,
        "votes_excluded": snapshot.votes_excluded,
        "method": snapshot.method,
        "models": [
            {**row_numbers(r), "license": license, "organization": org} for r, license, org in rows
        ],
    }


def current_board(session: Session) -> dict[str, Any]:
    return board(session, latest(session))


def model_history(session: Session, model: str) -> dict[str, Any]:
    if session.scalar(select(ModelEndpoint.id).where(ModelEndpoint.name == model)) is None:
        raise ArenaError(404, "model_not_found", f"no model named {model!r}")
    rows = session.execute(
        select(SnapshotRow, LeaderboardSnapshot.computed_at)
        .join(LeaderboardSnapshot, LeaderboardSnapshot.id == SnapshotRow.snapshot_id)
        .where(SnapshotRow.model == model)
        .order_by(SnapshotRow.snapshot_id)
    ).all()
    return {
        "model": model,
        "history": [
            {
                "snapshot_id": r.snapshot_id,
                "computed_at": at,
                "rating": r.rating,
                "ci_low": r.ci_low,
                "ci_high": r.ci_high,
                "rank": r.rank,
                "battles": r.battles,
            }
            for r, at in rows
        ],
    }


def _snapshot(session: Session, snapshot_id: int) -> LeaderboardSnapshot:
    snap = session.get(LeaderboardSnapshot, snapshot_id)
    if snap is None:
        raise ArenaError(404, "snapshot_not_found", f"no snapshot {snapshot_id}")
    return snap


def snapshot_meta(session: Session, snapshot_id: int) -> dict[str, Any]:
    snap = _snapshot(session, snapshot_id)
    return {
        "snapshot_id": snap.id,
        "view": snap.view,
        "category": snap.category,
        "method": snap.method,
        "params": snap.params,
        "fit_args": snap.fit_args,
        "vote_watermark": snap.vote_watermark,
        "sha256": snap.sha256,
        "votes_included": snap.votes_included,
        "votes_excluded": snap.votes_excluded,
        "computed_at": snap.computed_at,
    }


@dataclass(frozen=True)
class Download:
    """What serving a snapshot's votes download needs, read before the stream starts."""

    runs: list[list[int]]
    columns: Columns


def snapshot_download(session: Session, snapshot_id: int) -> Download:
    snap = _snapshot(session, snapshot_id)
    vote_set = session.get(SnapshotVoteSet, snap.vote_set_id) if snap.vote_set_id else None
    if vote_set is None:
        raise ArenaError(
            404,
            "snapshot_votes_unavailable",
            f"snapshot {snapshot_id} was computed before vote sets were recorded; "
            "its votes cannot be served exactly",
        )
    return Download(vote_set.runs, VOTE_COLUMNS.only(vote_set.columns))
