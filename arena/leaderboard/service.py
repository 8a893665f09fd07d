"""Leaderboard snapshots: count the included votes in SQL, fit on the counts, store.

A snapshot records its method, parameters, `fit_args`, vote watermark and its vote set
(the exact ids it counted, fixed at birth), and the sha256 of its jsonl votes download,
so a researcher can download those votes, check them with `sha256sum` and refit them with
`arena ratings fit FILE --json <fit_args>` to the same rows. Where the plain MLE does not
exist yet (one model never lost, a disconnected graph) the fit adds the stated minimal
prior (`ARENA_RATING_PRIOR` virtual ties) and says so in `params` and `fit_args`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.exports.columns import VOTE_COLUMNS, Columns
from arena.leaderboard.digest import Digests
from arena.leaderboard.tables import LeaderboardSnapshot, SnapshotRow, SnapshotVoteSet
from arena.leaderboard.voteset import Inputs, gather, run_length, source_marks
from ratings.errors import DisconnectedGraphError, RatingsInputError, UnboundedRatingsError
from ratings.leaderboard import Leaderboard, fit_counts

__all__ = [
    "DEFAULT_PRIOR",
    "Inputs",
    "NotRateable",
    "default_params",
    "fit",
    "fit_args",
    "gather",
    "latest",
    "recompute",
    "row_numbers",
]

log = logging.getLogger("arena.leaderboard")
DEFAULT_PRIOR = 1.0


def fit(inputs: Inputs) -> Leaderboard:
    anchor = inputs.params.get("anchor")
    prior = inputs.params.get("prior")
    return fit_counts(
        inputs.counts(),
        anchor=(anchor[0], float(anchor[1])) if anchor else None,
        ci=inputs.params.get("ci", "sandwich"),
        rounds=int(inputs.params.get("rounds", 1000)),
        seed=int(inputs.params.get("seed", 0)),
        prior=None if prior is None else float(prior),
    )


def default_params(anchor: tuple[str, float] | None) -> dict[str, Any]:
    return {"method": "bradley-terry", "ci": "sandwich", "anchor": list(anchor) if anchor else None}


def _number(value: float) -> str:
    """A number as an argument that parses back to the same float."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def fit_args(params: dict[str, Any]) -> list[str]:
    """The `arena ratings fit FILE --json` arguments that reproduce a fit with ``params``."""
    args: list[str] = []
    if params.get("anchor"):
        name, value = params["anchor"]
        args += ["--anchor", f"{name}={_number(value)}"]
    ci = params.get("ci", "sandwich")
    if ci != "sandwich":
        args += ["--ci", ci]
    if ci == "bootstrap":
        args += ["--rounds", str(params.get("rounds", 1000)), "--seed", str(params.get("seed", 0))]
    if params.get("prior") is not None:
        args += ["--prior", _number(params["prior"])]
    return args


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


def _fit_with_prior(inputs: Inputs, prior: float | None) -> Leaderboard:
    """The exact MLE where it exists; else, with a prior configured, the minimal prior."""
    try:
        try:
            return fit(inputs)
        except (DisconnectedGraphError, UnboundedRatingsError) as exc:
            if prior is None:
                raise
            log.info("no MLE yet (%s): fitting with prior %s", exc, prior)
            inputs.params["prior"] = prior
            return fit(inputs)
    except RatingsInputError as exc:
        raise NotRateable(str(exc)) from exc


def _vote_set(
    session: Session, prev: LeaderboardSnapshot | None, runs: list[list[int]], columns: Columns
) -> tuple[SnapshotVoteSet, bool]:
    """The previous snapshot's vote set when it holds the same votes, else a new one."""
    if prev is not None and prev.vote_set_id is not None:
        old = session.get(SnapshotVoteSet, prev.vote_set_id)
        if old is not None and old.runs == runs and tuple(old.columns) == columns.names:
            return old, True
    vote_set = SnapshotVoteSet(runs=runs, votes=run_length(runs), columns=list(columns.names))
    session.add(vote_set)
    session.flush()
    return vote_set, False


def recompute(
    session: Session,
    anchor: tuple[str, float] | None,
    *,
    prior: float | None = DEFAULT_PRIOR,
    digests: Digests | None = None,
    timings: dict[str, float] | None = None,
) -> LeaderboardSnapshot | None:
    """A new snapshot, unless nothing changed since the latest one. Raises NotRateable.

    ``prior=None`` keeps no board until the MLE exists; ``digests`` carries the previous
    digest's hash state between calls; ``timings`` receives seconds per step.
    """
    clock = timings if timings is not None else {}
    t0 = time.perf_counter()
    settings_mark = {"anchor": list(anchor) if anchor else None, "prior": prior}
    prev = latest(session)
    # Cheap check first: no vote and no exclusion since the latest snapshot, same settings.
    if prev is not None and prev.marks == {**source_marks(session), "settings": settings_mark}:
        return None
    params = default_params(anchor)
    inputs = gather(session, params)
    clock["sql"] = time.perf_counter() - t0
    if not inputs.cells:
        return None
    if anchor is not None and anchor[0] not in inputs.names.values():
        params["anchor"] = None
    t0 = time.perf_counter()
    board = _fit_with_prior(inputs, prior)
    clock["fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    vote_set, reused = _vote_set(session, prev, inputs.runs, VOTE_COLUMNS)
    clock["vote_set"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if reused and prev is not None:
        digest = prev.sha256
    else:
        columns = VOTE_COLUMNS.only(vote_set.columns)
        digest = (digests or Digests()).jsonl_sha256(session, inputs.runs, columns)
    clock["digest"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    params = {**params, **{k: v for k, v in board.params.items() if k != "method"}}
    snap = LeaderboardSnapshot(
        view="default",
        category=None,
        method="bradley-terry",
        params=params,
        fit_args=fit_args(params),
        vote_watermark=inputs.watermark,
        vote_set_id=vote_set.id,
        sha256=digest,
        votes_included=inputs.votes_included,
        votes_excluded=inputs.excluded,
        marks={**inputs.marks, "settings": settings_mark},
    )
    session.add(snap)
    session.flush()
    ids = {name: mid for mid, name in inputs.names.items()}
    session.add_all(
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
        for row in board.rows()
    )
    session.flush()
    clock["store"] = time.perf_counter() - t0
    return snap
