"""Which pair to battle next: a pure function from the board to pair probabilities."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ratings.types import FloatArray

__all__ = ["pair_probabilities"]


def pair_probabilities(
    ci_low: npt.ArrayLike,
    ci_high: npt.ArrayLike,
    battles: npt.ArrayLike,
    *,
    floor: float = 0.2,
    new_model_battles: float = 300.0,
) -> FloatArray:
    """Probability of drawing each unordered pair, as a symmetric ``(M, M)`` matrix.

    Each pair's weight is the overlap of the two intervals relative to the
    narrower one (pairs whose order is still open are informative), plus a
    bonus for under-sampled models, ``new_model_battles / (battles + new_model_battles)``
    for each side. A share ``floor`` of the probability is spread uniformly over
    all pairs, so every model keeps being sampled whatever the board says.
    Models without an interval yet can be passed with ``ci_low=-inf, ci_high=inf``.
    The upper triangle sums to 1 (each pair counted once); the diagonal is 0.

    Parameters
    ----------
    ci_low, ci_high : array_like, shape (M,)
        Interval bounds (any common scale).
    battles : array_like, shape (M,)
        Battles so far per model.
    floor : float
        Uniform share, in ``(0, 1]``.
    new_model_battles : float
        Battle count at which the under-sampling bonus halves.
    """
    lo = np.asarray(ci_low, dtype=np.float64)
    hi = np.asarray(ci_high, dtype=np.float64)
    n = np.asarray(battles, dtype=np.float64)
    m = lo.size
    if not 0.0 < floor <= 1.0:
        raise ValueError("floor must be in (0, 1]")
    if m < 2:
        raise ValueError("need at least two models to form a pair")
    width = np.maximum(hi - lo, 1e-12)
    with np.errstate(invalid="ignore"):
        overlap = np.minimum(hi[:, None], hi[None, :]) - np.maximum(lo[:, None], lo[None, :])
        overlap = overlap / np.minimum(width[:, None], width[None, :])
    overlap = np.clip(np.nan_to_num(overlap, nan=1.0, posinf=1.0), 0.0, 1.0)
    fresh = new_model_battles / (np.maximum(n, 0.0) + new_model_battles)
    weight = overlap + fresh[:, None] + fresh[None, :]
    upper = np.triu(np.ones((m, m), dtype=bool), 1)
    weight = np.where(upper, weight, 0.0)
    pairs = m * (m - 1) / 2
    total = weight.sum()
    prob = floor / pairs * upper + (1.0 - floor) * (weight / total if total > 0 else upper / pairs)
    out: FloatArray = prob + prob.T
    return out
