"""Pairwise tables for display: observed and predicted win rates, battle counts."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ratings.bt import sigmoid
from ratings.counts import PairCounts

__all__ = ["battle_matrix", "predicted_win_rates", "win_rate_matrix"]

FloatArray = npt.NDArray[np.float64]


def battle_matrix(counts: PairCounts) -> FloatArray:
    """Symmetric ``(M, M)`` battle counts."""
    m = counts.n_models
    out = np.zeros((m, m))
    out[counts.i, counts.j] = counts.n
    out[counts.j, counts.i] = counts.n
    return out


def win_rate_matrix(counts: PairCounts) -> FloatArray:
    """Observed share of points of row model vs column model, ties as half.

    NaN where the pair never met (and on the diagonal).
    """
    m = counts.n_models
    out = np.full((m, m), np.nan)
    n = counts.n
    met = n > 0
    i, j, nn = counts.i[met], counts.j[met], n[met]
    score_i = (counts.wins_i + 0.5 * counts.ties)[met] / nn
    out[i, j] = score_i
    out[j, i] = 1.0 - score_i
    return out


def predicted_win_rates(theta: npt.ArrayLike) -> FloatArray:
    """``P(row beats column)`` under Bradley-Terry with natural-scale ``theta``."""
    t = np.asarray(theta, dtype=np.float64)
    out = sigmoid(t[:, None] - t[None, :])
    np.fill_diagonal(out, np.nan)
    return out
