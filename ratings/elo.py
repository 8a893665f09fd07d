"""Online Elo, order-dependent: a comparison view only, never the public board."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ratings.types import FloatArray, IntArray

__all__ = ["online_elo"]


def online_elo(
    n_models: int,
    a: Sequence[int] | IntArray,
    b: Sequence[int] | IntArray,
    outcome: Sequence[int] | IntArray,
    *,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
) -> FloatArray:
    """Sequential Elo updates in battle order, as FastChat's ``compute_elo``.

    ``outcome`` codes as :data:`ratings.counts.OUTCOMES` (0 A won, 1 B won,
    2/3 tie). Returns one rating per model; models without battles keep ``init``.
    """
    rating = [float(init)] * n_models
    score_of = (1.0, 0.0, 0.5, 0.5)
    # A plain Python loop: every update depends on the previous one, and
    # Python floats beat NumPy scalars here.
    for ia, ib, o in zip(
        np.asarray(a).tolist(), np.asarray(b).tolist(), np.asarray(outcome).tolist(), strict=True
    ):
        ra, rb = rating[ia], rating[ib]
        ea = 1.0 / (1.0 + base ** ((rb - ra) / scale))
        sa = score_of[o]
        rating[ia] = ra + k * (sa - ea)
        rating[ib] = rb + k * (ea - sa)
    return np.array(rating, dtype=np.float64)
