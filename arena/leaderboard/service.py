"""Leaderboard snapshots: aggregate the included votes in SQL, fit on the counts, store.

A snapshot records its method, parameters, vote watermark (max vote id it saw) and the
sha256 of its exact input (the aggregated counts and the parameters), so the same snapshot
recomputed gives the same numbers, and a researcher's export up to the watermark refits to
them with `arena ratings fit`.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arena.db import utcnow
from arena.leaderboard.tables import LeaderboardSnapshot, SnapshotRow
from arena.models.tables import ModelEndpoint
from arena.votes.tables import Vote, VoteExclusion
from arena.votes.vocabulary import LMSYS_WINNER
from ratings.counts import PairCounts, counts_from_rows
from ratings.errors import RatingsInputError
from ratings.leaderboard import Leaderboard, fit_counts

log = logging.getLogger("arena.leaderboard")


@dataclass(frozen=True)
class Inputs:
    watermark: int
    names: dict[int, str]
    # (model_a name, model_b name, LMSYS winner) -> count, included votes only
    cells: dict[tuple[str, str, str], int]
    excluded: dict[str, int]
    params: dict[str, Any]

    @property
    def votes_included(self) -> int:
        return sum(self.cells.values())

    def sha256(self) -> str:
        body = {
            "cells": sorted([a, b, w, n] for (a, b, w), n in self.cells.items()),
            "params": self.params,
            "watermark": self.watermark,
        }
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()

    def counts(self) -> PairCounts:
        return counts_from_rows((a, b, w, n) for (a, b, w), n in self.cells.items())


def gather(session: Session, params: dict[str, Any], watermark: int | None = None) -> Inputs:
    if watermark is None:
        watermark = session.scalar(select(func.max(Vote.id))) or 0
    names: dict[int, str] = {
        mid: name for mid, name in session.execute(select(ModelEndpoint.id, ModelEndpoint.name))
    }
    stmt = (
        select(Vote.model_a_id, Vote.model_b_id, Vote.winner, func.count())
        .where(Vote.included.is_(True), Vote.id <= watermark)
        .group_by(Vote.model_a_id, Vote.model_b_id, Vote.winner)
    )
    cells: dict[tuple[str, str, str], int] = {}
    for a, b, winner, n in session.execute(stmt):
        key = (names[a], names[b], LMSYS_WINNER[winner])
        cells[key] = cells.get(key, 0) + n
    excl = session.execute(
        select(VoteExclusion.reason, func.count(func.distinct(VoteExclusion.vote_id)))
        .join(Vote, Vote.id == VoteExclusion.vote_id)
        .where(Vote.id <= watermark, Vote.included.is_(False))
        .group_by(VoteExclusion.reason)
    )
    return Inputs(watermark, names, cells, {r: int(n) for r, n in excl}, params)


def fit(inputs: Inputs) -> Leaderboard:
    anchor = inputs.params.get("anchor")
    return fit_counts(
        inputs.counts(),
        anchor=(anchor[0], float(anchor[1])) if anchor else None,
        ci=inputs.params.get("ci", "sandwich"),
        rounds=int(inputs.params.get("rounds", 1000)),
        seed=int(inputs.params.get("seed", 0)),
    )


def default_params(anchor: tuple[str, float] | None) -> dict[str, Any]:
    return {"method": "bradley-terry", "ci": "sandwich", "anchor": list(anchor) if anchor else None}


def row_numbers(row: SnapshotRow) -> dict[str, Any]:
    """The published numbers of one model in one snapshot."""
    return {
        "model": row.model,
        "rating": row.rating,
        "ci_low": row.ci_low,
        "ci_high": row.ci_high,
        "rank": row.rank,
        "rank_ub": row.rank_ub,
        "battles": row.battles,
    }


def latest(session: Session) -> LeaderboardSnapshot | None:
    return session.scalar(select(LeaderboardSnapshot).order_by(LeaderboardSnapshot.id.desc()))


class NotRateable(Exception):
    """The votes so far do not define finite ratings (say, one model never lost yet)."""


def recompute(session: Session, anchor: tuple[str, float] | None) -> LeaderboardSnapshot | None:
    """A new snapshot, unless nothing changed since the latest one. Raises NotRateable."""
    params = default_params(anchor)
    prev = latest(session)
    # Cheap check first: no vote and no exclusion since the latest snapshot, same settings.
    watermark = session.scalar(select(func.max(Vote.id))) or 0
    excl_mark = session.scalar(select(func.max(VoteExclusion.id))) or 0
    if (
        prev is not None
        and prev.vote_watermark == watermark
        and prev.params.get("exclusion_watermark") == excl_mark
        and prev.params.get("anchor") == params["anchor"]
    ):
        return None
    inputs = gather(session, params, watermark)
    digest = inputs.sha256()
    if prev is not None and prev.sha256 == digest:
        return None
    if not inputs.cells:
        return None
    if anchor is not None and anchor[0] not in inputs.names.values():
        params["anchor"] = None
    try:
        board = fit(inputs)
    except RatingsInputError as exc:
        raise NotRateable(str(exc)) from exc
    snap = LeaderboardSnapshot(
        method="bradley-terry",
        params={
            **params,
            **{k: v for k, v in board.params.items() if k != "method"},
            "exclusion_watermark": excl_mark,
        },
        vote_watermark=inputs.watermark,
        sha256=digest,
        votes_included=inputs.votes_included,
        votes_excluded=inputs.excluded,
        computed_at=utcnow(),
    )
    session.add(snap)
    session.flush()
    ids = {name: mid for mid, name in inputs.names.items()}
    for row in board.rows():
        session.add(
            SnapshotRow(
                snapshot_id=snap.id,
                model_id=ids[str(row["model"])],
                model=str(row["model"]),
                rating=row["rating"],
                ci_low=row["ci_low"],
                ci_high=row["ci_high"],
                rank=row["rank"],
                rank_ub=row["rank_ub"],
                battles=row["battles"],
            )
        )
    session.flush()
    return snap
