"""Ranks as on the LMSYS leaderboard."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ratings.types import IntArray

__all__ = ["RANK_EPS", "rank", "rank_upper_bound"]


#: Ratings closer than this (Elo points) count as equal, so that models with
#: mirror-image records share a rank despite floating-point noise.
RANK_EPS = 1e-6


def rank(ratings: npt.ArrayLike) -> IntArray:
    """``1 +`` the number of models with a strictly higher rating."""
    r = np.asarray(ratings, dtype=np.float64)
    higher = r[None, :] > r[:, None] + RANK_EPS
    out: IntArray = 1 + higher.sum(axis=1).astype(np.int64)
    return out


def rank_upper_bound(ci_low: npt.ArrayLike, ci_high: npt.ArrayLike) -> IntArray:
    """``1 +`` the number of models whose lower bound exceeds this model's upper bound.

    The best rank the data cannot rule out (FastChat's ``final_ranking``).
    """
    lo = np.asarray(ci_low, dtype=np.float64)
    hi = np.asarray(ci_high, dtype=np.float64)
    beats = lo[None, :] > hi[:, None] + RANK_EPS
    out: IntArray = 1 + beats.sum(axis=1).astype(np.int64)
    return out
