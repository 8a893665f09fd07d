"""Leaderboard snapshots: count the included votes in SQL, fit every board, store.

One recompute writes every board as a snapshot of its own, all from one vote set: the
headline board (view default, no category), the style view, and a default board per
category present in the counted votes (hidden on the page below ARENA_CATEGORY_MIN_VOTES,
but computed and stored all the same). A snapshot records its method, parameters,
`fit_args`, vote watermark and vote set (the exact ids it counted, fixed at birth), and the
sha256 of its own jsonl votes download (a category board's: the vote set's votes of that
category), so a researcher can download those votes, check them with `sha256sum` and refit
them with `arena ratings fit FILE --json <fit_args>` to the same rows. Where the plain MLE
does not exist yet (one model never lost, a disconnected graph) the fit adds the stated
minimal prior (`ARENA_RATING_PRIOR` virtual ties) and says so in `params` and `fit_args`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.categories import categories_version
from arena.exports.columns import VOTE_COLUMNS, Columns
from arena.leaderboard.arrays import VoteCache, read_vote_arrays
from arena.leaderboard.boards import (
    Fitted,
    NotRateable,
    board_robustness,
    fit_category,
    fit_default,
    fit_style_view,
)
from arena.leaderboard.digest import Digests
from arena.leaderboard.speed import serving_speed
from arena.leaderboard.tables import LeaderboardSnapshot, SnapshotRow, SnapshotVoteSet
from arena.leaderboard.voteset import Inputs, gather, run_length, source_marks
from ratings.errors import RatingsError
from ratings.leaderboard import Leaderboard

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
    """The headline board of ``inputs`` with its ``params`` (the exact MLE unless they name a
    prior)."""
    return fit_default(inputs.counts(), inputs.params, None)


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
    if params.get("view", "default") != "default":
        args += ["--view", params["view"]]
    if params.get("category") is not None:
        args += ["--category", params["category"]]
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
    """The newest headline board."""
    return session.scalar(
        select(LeaderboardSnapshot)
        .where(LeaderboardSnapshot.view == "default", LeaderboardSnapshot.category.is_(None))
        .order_by(LeaderboardSnapshot.id.desc())
        .limit(1)
    )


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


def _boards(
    session: Session,
    inputs: Inputs,
    headline: Leaderboard,
    prior: float | None,
    clock: dict[str, float],
    cache: VoteCache | None,
) -> list[Fitted]:
    """Every board of the vote set: the headline first, then the style view and the
    categories (a board whose ratings do not exist, even with the prior, is left out)."""
    t0 = time.perf_counter()
    counts = inputs.counts()
    out = [
        Fitted(
            "default",
            None,
            headline,
            dict(inputs.params),
            inputs.votes_included,
            board_robustness(counts, headline),
        )
    ]
    clock["robustness"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    arrays = read_vote_arrays(session, inputs.runs, cache)
    clock["arrays"] = time.perf_counter() - t0
    if arrays.size != inputs.votes_included:
        raise RuntimeError(f"{arrays.size} votes read for a vote set of {inputs.votes_included}")
    base = {k: v for k, v in inputs.params.items() if k != "prior"}
    t0 = time.perf_counter()
    try:
        out.append(fit_style_view(arrays, inputs.names, dict(base), prior))
    except (NotRateable, RatingsError) as exc:
        log.info("style board left out of this recompute: %s", exc)
    clock["style"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for tag in sorted(arrays.categories()):
        try:
            out.append(fit_category(arrays, inputs.names, tag, dict(base), prior))
        except (NotRateable, RatingsError) as exc:
            log.info("category %s left out of this recompute: %s", tag, exc)
    clock["categories"] = time.perf_counter() - t0
    return out


def recompute(
    session: Session,
    anchor: tuple[str, float] | None,
    *,
    prior: float | None = DEFAULT_PRIOR,
    digests: Digests | None = None,
    timings: dict[str, float] | None = None,
    cache: VoteCache | None = None,
) -> LeaderboardSnapshot | None:
    """New snapshots of every board, unless nothing changed since the latest recompute;
    the headline board's snapshot. Raises NotRateable when the headline has no ratings.

    ``prior=None`` keeps no board until the MLE exists; ``digests`` carries the previous
    digests' hash states between calls, ``cache`` the votes read before (both optional:
    without them everything is read and hashed again); ``timings`` receives seconds per step.
    """
    clock = timings if timings is not None else {}
    t0 = time.perf_counter()
    settings_mark = {"anchor": list(anchor) if anchor else None, "prior": prior}
    prev = latest(session)
    # Cheap check first: no vote and no exclusion since the latest recompute, same settings;
    # every board of a recompute shares its vote set, so this skips them all.
    if prev is not None and prev.marks == {**source_marks(session), "settings": settings_mark}:
        return None
    params = default_params(anchor)
    inputs = gather(session, params)
    clock["sql"] = time.perf_counter() - t0
    if not inputs.cells:
        return None
    if anchor is not None and anchor[0] not in inputs.names.values():
        params["anchor"] = None
    params["categories_version"] = categories_version()
    t0 = time.perf_counter()
    headline = fit_default(inputs.counts(), params, prior)
    clock["fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fitted = _boards(session, inputs, headline, prior, clock, cache)
    clock["boards"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    vote_set, reused = _vote_set(session, prev, inputs.runs, VOTE_COLUMNS)
    clock["vote_set"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    digest = _digests(session, prev if reused else None, vote_set, inputs, fitted, digests)
    clock["digest"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    speed = serving_speed(session)
    clock["speed"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    marks = {**inputs.marks, "settings": settings_mark}
    snaps: list[LeaderboardSnapshot] = []
    for board in fitted:
        snap = _store(session, board, inputs, vote_set, digest[board.category], marks, speed)
        if snaps:
            snap.headline_id = snaps[0].id
        snaps.append(snap)
        session.flush()
    clock["store"] = time.perf_counter() - t0
    return snaps[0]


def _digests(
    session: Session,
    prev: LeaderboardSnapshot | None,
    vote_set: SnapshotVoteSet,
    inputs: Inputs,
    fitted: list[Fitted],
    digests: Digests | None,
) -> dict[str | None, str]:
    """Each board's download sha256, keyed by category (the style view's download is the
    headline's); a reused vote set keeps the digests the previous recompute computed."""
    wanted = sorted({b.category for b in fitted}, key=lambda c: (c is not None, c or ""))
    known: dict[str | None, str] = {}
    if prev is not None:
        siblings = session.execute(
            select(LeaderboardSnapshot.category, LeaderboardSnapshot.sha256).where(
                LeaderboardSnapshot.headline_id == prev.id,
                LeaderboardSnapshot.view == "default",
            )
        ).all()
        known = {None: prev.sha256, **{c: sha for c, sha in siblings}}
    missing = [c for c in wanted if c not in known]
    if missing:
        columns = VOTE_COLUMNS.only(vote_set.columns)
        known.update((digests or Digests()).jsonl_sha256s(session, inputs.runs, columns, missing))
    return {c: known[c] for c in wanted}


def _store(
    session: Session,
    fitted: Fitted,
    inputs: Inputs,
    vote_set: SnapshotVoteSet,
    digest: str,
    marks: dict[str, Any],
    speed: dict[int, tuple[float | None, float | None]],
) -> LeaderboardSnapshot:
    board = fitted.board
    params = {**fitted.params, **{k: v for k, v in board.params.items() if k != "method"}}
    if fitted.view == "style":
        params["robustness"] = "not computed: ratings.robustness refits plain Bradley-Terry"
    excluded = (
        inputs.excluded
        if fitted.category is None
        else inputs.excluded_by_category.get(fitted.category, {})
    )
    snap = LeaderboardSnapshot(
        view=fitted.view,
        category=fitted.category,
        method=str(params.get("method", "bradley-terry")),
        params=params,
        fit_args=fit_args(params),
        vote_watermark=inputs.watermark,
        vote_set_id=vote_set.id,
        sha256=digest,
        votes_included=fitted.votes,
        votes_excluded=excluded,
        marks=marks,
        style_coefficients=fitted.style_coefficients,
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
            robustness=fitted.robustness.get(str(row["model"])),
            ttft_ms_median=speed.get(ids[str(row["model"])], (None, None))[0],
            tokens_per_s_median=speed.get(ids[str(row["model"])], (None, None))[1],
        )
        for row in board.rows()
    )
    return snap
