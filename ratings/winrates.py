"""Pairwise tables for display: observed and predicted win rates, battle counts.

Ties of either kind count half a win for each side, as in the ratings.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ratings.bt import sigmoid
from ratings.counts import PairCounts
from ratings.types import FloatArray

__all__ = ["battle_matrix", "predicted_win_rates", "win_rate_matrix", "win_rates"]


def win_rates(wins: npt.ArrayLike, losses: npt.ArrayLike, ties: npt.ArrayLike) -> FloatArray:
    """Observed share of points, elementwise; NaN where there were no battles.

    Parameters
    ----------
    wins, losses, ties : array_like, shape (K,)
        Battles won, lost and tied (both tie kinds together) by one side.
    """
    w = np.asarray(wins, dtype=np.float64)
    t = np.asarray(ties, dtype=np.float64)
    n = w + np.asarray(losses, dtype=np.float64) + t
    out = np.full(n.shape, np.nan)
    np.divide(w + 0.5 * t, n, out=out, where=n > 0)
    return out


def battle_matrix(counts: PairCounts) -> FloatArray:
    """Symmetric ``(M, M)`` battle counts."""
    m = counts.n_models
    out = np.zeros((m, m))
    out[counts.i, counts.j] = counts.n
    out[counts.j, counts.i] = counts.n
    return out


def win_rate_matrix(counts: PairCounts) -> FloatArray:
    """Observed share of points of row model vs column model.

    NaN where the pair never met (and on the diagonal).
    """
    m = counts.n_models
    out = np.full((m, m), np.nan)
    met = counts.n > 0
    i, j = counts.i[met], counts.j[met]
    score_i = win_rates(counts.wins_i, counts.wins_j, counts.ties)[met]
    out[i, j] = score_i
    out[j, i] = 1.0 - score_i
    return out


def predicted_win_rates(theta: npt.ArrayLike) -> FloatArray:
    """``P(row beats column)`` under Bradley-Terry with natural-scale ``theta``."""
    t = np.asarray(theta, dtype=np.float64)
    out = sigmoid(t[:, None] - t[None, :])
    np.fill_diagonal(out, np.nan)
    return out
