"""The boards as published: any (view, category) board of the latest recompute, the
categories, a model's history, a snapshot's provenance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.errors import ArenaError
from arena.exports.columns import VOTE_COLUMNS, Columns
from arena.leaderboard.boards import VIEWS
from arena.leaderboard.service import latest, row_numbers
from arena.leaderboard.tables import LeaderboardSnapshot, SnapshotRow, SnapshotVoteSet
from arena.models.tables import ModelEndpoint


@dataclass(frozen=True)
class BoardQuery:
    """Which board, and how to show it."""

    view: str = "default"
    category: str | None = None
    include_retired: bool = False
    # the ARENA_ settings that mark rows and categories at read time
    provisional_votes: int = 300
    category_min_votes: int = 300


def check_view(view: str) -> str:
    if view not in VIEWS:
        raise ArenaError(404, "view_not_found", f"no view {view!r}: views are {', '.join(VIEWS)}")
    return view


def recompute_boards(session: Session, headline: LeaderboardSnapshot) -> list[LeaderboardSnapshot]:
    """The headline board and every board recomputed with it."""
    siblings = session.scalars(
        select(LeaderboardSnapshot)
        .where(LeaderboardSnapshot.headline_id == headline.id)
        .order_by(LeaderboardSnapshot.id)
    ).all()
    return [headline, *siblings]


def find_board(session: Session, view: str, category: str | None) -> LeaderboardSnapshot | None:
    """The (view, category) board of the latest recompute; 404 for an unknown view or a
    category the latest recompute has no board for."""
    check_view(view)
    headline = latest(session)
    if headline is None:
        if category is not None:
            raise ArenaError(404, "category_not_found", f"no category {category!r} yet")
        return None
    if view == "default" and category is None:
        return headline
    for snap in recompute_boards(session, headline)[1:]:
        if snap.view == view and snap.category == category:
            return snap
    if category is not None:
        what = "style boards cover all votes only" if view == "style" else "no votes in it"
        raise ArenaError(
            404, "category_not_found", f"no {view} board for category {category!r} ({what})"
        )
    # A known view the latest recompute could not fit (or one from before views existed).
    return None


def _empty(view: str, category: str | None) -> dict[str, Any]:
    return {
        "snapshot_id": None,
        "computed_at": None,
        "view": view,
        "category": category,
        "shown": True,
        "anchor": None,
        "votes_included": 0,
        "votes_excluded": {},
        "method": None,
        "models": [],
    }


def shown(snapshot: LeaderboardSnapshot, min_votes: int) -> bool:
    return snapshot.category is None or snapshot.votes_included >= min_votes


def board(
    session: Session, snapshot: LeaderboardSnapshot | None, query: BoardQuery = BoardQuery()
) -> dict[str, Any]:
    if snapshot is None:
        out = _empty(query.view, query.category)
        if query.view == "style":
            out["style_coefficients"] = {}
        return out
    stmt = (
        select(
            SnapshotRow,
            ModelEndpoint.license,
            ModelEndpoint.organization,
            ModelEndpoint.parameters,
            ModelEndpoint.status,
        )
        .join(ModelEndpoint, ModelEndpoint.id == SnapshotRow.model_id)
        .where(SnapshotRow.snapshot_id == snapshot.id)
        .order_by(SnapshotRow.rank, SnapshotRow.model)
    )
    if not query.include_retired:
        stmt = stmt.where(ModelEndpoint.status != "retired")
    models = [
        {
            **row_numbers(r),
            "license": license,
            "organization": org,
            "parameters": parameters,
            "provisional": r.battles < query.provisional_votes,
            "retired": status == "retired",
            "robustness": r.robustness,
            "ttft_ms_median": r.ttft_ms_median,
            "tokens_per_s_median": r.tokens_per_s_median,
        }
        for r, license, org, parameters, status in session.execute(stmt).all()
    ]
    out = {
        "snapshot_id": snapshot.id,
        "computed_at": snapshot.computed_at,
        "view": snapshot.view,
        "category": snapshot.category,
        "shown": shown(snapshot, query.category_min_votes),
        "anchor": (snapshot.params or {}).get("anchor"),
        "votes_included": snapshot.votes_included,
        "votes_excluded": snapshot.votes_excluded,
        "method": snapshot.method,
        "models": models,
    }
    if snapshot.view == "style":
        out["style_coefficients"] = snapshot.style_coefficients or {}
        out["dropped_features"] = (snapshot.params or {}).get("dropped_features", {})
    return out


def current_board(session: Session, query: BoardQuery = BoardQuery()) -> dict[str, Any]:
    return board(session, find_board(session, query.view, query.category), query)


def categories(session: Session, min_votes: int) -> list[dict[str, Any]]:
    """The categories of the latest recompute, most votes first."""
    headline = latest(session)
    if headline is None:
        return []
    boards = [s for s in recompute_boards(session, headline) if s.view == "default" and s.category]
    return [
        {"category": s.category, "votes": s.votes_included, "shown": shown(s, min_votes)}
        for s in sorted(boards, key=lambda s: (-s.votes_included, s.category or ""))
    ]


def model_history(
    session: Session, model: str, view: str = "default", category: str | None = None
) -> dict[str, Any]:
    """The model's rows in every snapshot of the (view, category) board, oldest first."""
    check_view(view)
    if session.scalar(select(ModelEndpoint.id).where(ModelEndpoint.name == model)) is None:
        raise ArenaError(404, "model_not_found", f"no model named {model!r}")
    category_is = (
        LeaderboardSnapshot.category.is_(None)
        if category is None
        else LeaderboardSnapshot.category == category
    )
    rows = session.execute(
        select(SnapshotRow, LeaderboardSnapshot.computed_at)
        .join(LeaderboardSnapshot, LeaderboardSnapshot.id == SnapshotRow.snapshot_id)
        .where(SnapshotRow.model == model, LeaderboardSnapshot.view == view, category_is)
        .order_by(SnapshotRow.snapshot_id)
    ).all()
    return {
        "model": model,
        "view": view,
        "category": category,
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


def check_history(session: Session, view: str, category: str | None) -> None:
    """404 unless some snapshot was ever computed for this (view, category) board."""
    check_view(view)
    if category is None:
        return
    found = session.scalar(
        select(LeaderboardSnapshot.id)
        .where(LeaderboardSnapshot.view == view, LeaderboardSnapshot.category == category)
        .limit(1)
    )
    if found is None:
        raise ArenaError(404, "category_not_found", f"no {view} board for category {category!r}")


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
        "headline_id": snap.headline_id,
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
    # a category board's download holds only that category's votes
    category: str | None = None


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
    return Download(vote_set.runs, VOTE_COLUMNS.only(vote_set.columns), snap.category)
