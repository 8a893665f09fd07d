"""From counts to leaderboard rows: fit, intervals, Elo scale, anchor, ranks."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Literal

import numpy as np
import numpy.typing as npt

from ratings.bt import DEFAULT_TOL, fit_bt
from ratings.counts import PairCounts
from ratings.errors import RatingsInputError
from ratings.intervals import bootstrap, sandwich_cov
from ratings.ranks import rank, rank_upper_bound
from ratings.types import FloatArray, IntArray

__all__ = [
    "CONFIDENCE",
    "ELO_PER_NAT",
    "INIT_RATING",
    "CiMethod",
    "Leaderboard",
    "build_leaderboard",
    "fit_counts",
]

CiMethod = Literal["none", "sandwich", "bootstrap"]

INIT_RATING = 1000.0
#: Elo points per natural-log odds unit: 400 points = a factor 10 in odds.
ELO_PER_NAT = 400.0 / math.log(10.0)
CONFIDENCE = 0.95


@dataclass(frozen=True, eq=False)
class Leaderboard:
    """A fitted leaderboard; arrays are indexed like ``models``.

    ``ci_low``/``ci_high`` equal ``rating`` when ``ci == "none"`` (and
    :meth:`rows` then reports them as ``None``).
    """

    models: tuple[str, ...]
    rating: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    rank: IntArray
    rank_ub: IntArray
    battles: IntArray
    ci: CiMethod
    params: dict[str, object] = field(default_factory=dict)
    #: Natural-scale, mean-zero ratings.
    theta: FloatArray = field(default_factory=lambda: np.zeros(0))
    #: Style coefficients (natural scale, per standardised feature); empty without style.
    style_coefficients: dict[str, float] = field(default_factory=dict)
    #: Half-widths of the coefficients' 95% intervals (sandwich only; else empty).
    style_half_width: dict[str, float] = field(default_factory=dict)

    def rows(self) -> list[dict[str, object]]:
        """``{model, rating, ci_low, ci_high, rank, rank_ub, battles}`` sorted by rank."""
        none = self.ci == "none"
        order = sorted(range(len(self.models)), key=lambda k: (self.rank[k], self.models[k]))
        return [
            {
                "model": self.models[k],
                "rating": float(self.rating[k]),
                "ci_low": None if none else float(self.ci_low[k]),
                "ci_high": None if none else float(self.ci_high[k]),
                "rank": int(self.rank[k]),
                "rank_ub": int(self.rank_ub[k]),
                "battles": int(self.battles[k]),
            }
            for k in order
        ]


def _offset(models: tuple[str, ...], theta: FloatArray, anchor: tuple[str, float] | None) -> float:
    if anchor is None:
        return INIT_RATING
    name, value = anchor
    if name not in models:
        raise RatingsInputError(f"anchor model {name!r} has no battles")
    return float(value) - ELO_PER_NAT * float(theta[models.index(name)])


def build_leaderboard(
    models: tuple[str, ...],
    theta: FloatArray,
    battles: npt.ArrayLike,
    *,
    anchor: tuple[str, float] | None,
    ci: CiMethod,
    half_width: FloatArray | None = None,
    samples: FloatArray | None = None,
    params: dict[str, object] | None = None,
    style_coefficients: dict[str, float] | None = None,
    style_half_width: dict[str, float] | None = None,
) -> Leaderboard:
    """Scale natural-log ratings to Elo and attach intervals and ranks.

    Give ``half_width`` (natural scale) for symmetric intervals or ``samples``
    (bootstrap replicates, natural scale) for percentile intervals. An anchor
    shifts ratings and intervals alike, so it never changes widths or ranks.
    """
    offset = _offset(models, theta, anchor)
    rating = ELO_PER_NAT * theta + offset
    if ci == "none":
        lo, hi = rating.copy(), rating.copy()
    elif samples is not None:
        tail = (1.0 - CONFIDENCE) / 2.0
        lo = ELO_PER_NAT * np.quantile(samples, tail, axis=0) + offset
        hi = ELO_PER_NAT * np.quantile(samples, 1.0 - tail, axis=0) + offset
    elif half_width is not None:
        lo = rating - ELO_PER_NAT * half_width
        hi = rating + ELO_PER_NAT * half_width
    else:
        raise ValueError(f"ci={ci!r} needs half_width or samples")
    return Leaderboard(
        models=models,
        rating=rating,
        ci_low=lo,
        ci_high=hi,
        rank=rank(rating),
        rank_ub=rank_upper_bound(lo, hi),
        battles=np.rint(np.asarray(battles, dtype=np.float64)).astype(np.int64),
        ci=ci,
        params=dict(params or {}),
        theta=theta,
        style_coefficients=dict(style_coefficients or {}),
        style_half_width=dict(style_half_width or {}),
    )


def z_value() -> float:
    return NormalDist().inv_cdf(0.5 + CONFIDENCE / 2.0)


def fit_counts(
    counts: PairCounts,
    *,
    anchor: tuple[str, float] | None = None,
    ci: CiMethod = "sandwich",
    rounds: int = 1000,
    seed: int = 0,
    tol: float = DEFAULT_TOL,
    prior: float | None = None,
) -> Leaderboard:
    """Bradley-Terry leaderboard from aggregated counts (the server's entry point).

    Without ``prior`` this is the exact MLE and raises
    :class:`~ratings.errors.RatingsInputError` (no battles, disconnected graph,
    unbeaten models, unknown anchor) when it does not exist. ``prior=P`` adds
    ``P`` virtual ties of every model against the mean (see :mod:`ratings.bt`):
    finite ratings from the first battle, recorded as ``params["prior"]``.
    Raises :class:`~ratings.errors.ConvergenceError` if Newton stalls.
    """
    fit = fit_bt(counts, tol=tol, prior=prior)
    params: dict[str, object] = {
        "method": "bradley-terry",
        "ci": ci,
        "tol": tol,
        "iterations": fit.iterations,
        "anchor": None if anchor is None else [anchor[0], anchor[1]],
    }
    if prior is not None:
        params["prior"] = prior
    half = None
    samples = None
    if ci == "sandwich":
        cov = sandwich_cov(counts, fit.theta, prior=prior)
        half = z_value() * np.sqrt(np.clip(np.diag(cov), 0.0, None))
    elif ci == "bootstrap":
        boot = bootstrap(counts, fit.theta, rounds, seed, tol=tol, prior=prior)
        if boot.thetas.shape[0] == 0:
            raise RatingsInputError("no bootstrap round had finite ratings")
        samples = boot.thetas
        params.update(rounds=rounds, seed=seed, dropped_rounds=boot.dropped)
    elif ci != "none":
        raise ValueError(f"unknown ci method {ci!r}")
    return build_leaderboard(
        counts.models,
        fit.theta,
        counts.battles_per_model(),
        anchor=anchor,
        ci=ci,
        half_width=half,
        samples=samples,
        params=params,
    )
