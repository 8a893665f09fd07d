"""Sufficient statistics of a set of battles: per unordered pair, wins and ties.

Bradley-Terry without a side effect depends on the battles only through these
counts, so everything downstream (fit, intervals, bootstrap) works on arrays of
length "number of pairs that met", never on the battles themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ratings.errors import RatingsInputError
from ratings.types import BoolArray, FloatArray, IntArray

__all__ = ["OUTCOMES", "PairCounts", "aggregate", "counts_from_rows", "wsum"]


#: Outcome codes used by :func:`aggregate`, in the LMSYS spelling.
OUTCOMES: tuple[str, ...] = ("model_a", "model_b", "tie", "tie (bothbad)")

# Above this many (pair, outcome) cells a dense bincount wastes memory; sort instead.
_DENSE_CELL_LIMIT = 20_000_000


def wsum(index: IntArray, weights: FloatArray | None, size: int) -> FloatArray:
    """Sum ``weights`` (default 1) into ``size`` bins by ``index``, as float64."""
    return np.asarray(np.bincount(index, weights=weights, minlength=size), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class PairCounts:
    """Wins and ties per unordered pair ``(i[k], j[k])`` with ``i[k] < j[k]``.

    Attributes
    ----------
    models : tuple of str
        Model names; indices in ``i`` and ``j`` point into it.
    i, j : ndarray of int64, shape (K,)
        The two models of each pair, ``i < j``, each pair listed once.
    wins_i, wins_j, ties : ndarray of float64, shape (K,)
        Battles won by ``i``, won by ``j``, and tied (both tie kinds).
        Floats so that bootstrap draws and weights use the same type.
    """

    models: tuple[str, ...]
    i: IntArray
    j: IntArray
    wins_i: FloatArray
    wins_j: FloatArray
    ties: FloatArray

    def __post_init__(self) -> None:
        k = self.i.shape
        for name in ("j", "wins_i", "wins_j", "ties"):
            if getattr(self, name).shape != k:
                raise ValueError(f"PairCounts.{name} has the wrong shape")
        if k[0] and (
            np.any(self.i >= self.j) or self.i.min() < 0 or self.j.max() >= len(self.models)
        ):
            raise ValueError("PairCounts needs 0 <= i < j < len(models) for every pair")

    @classmethod
    def from_arrays(
        cls,
        models: Sequence[str],
        i: npt.ArrayLike,
        j: npt.ArrayLike,
        wins_i: npt.ArrayLike,
        wins_j: npt.ArrayLike,
        ties: npt.ArrayLike,
    ) -> PairCounts:
        """Build from per-pair rows in any order, either orientation, repeats allowed.

        This is the entry point for callers that aggregate elsewhere (e.g. SQL
        ``GROUP BY model_a, model_b, winner``): rows for ``(a, b)`` and ``(b, a)``
        are merged, with the wins swapped.
        """
        ia = np.asarray(i, dtype=np.int64)
        ja = np.asarray(j, dtype=np.int64)
        wi = np.asarray(wins_i, dtype=np.float64)
        wj = np.asarray(wins_j, dtype=np.float64)
        t = np.asarray(ties, dtype=np.float64)
        m = len(models)
        if np.any(ia == ja):
            bad = int(ia[np.argmax(ia == ja)])
            raise RatingsInputError(f"model {models[bad]!r} battles itself")
        if ia.size and (min(ia.min(), ja.min()) < 0 or max(ia.max(), ja.max()) >= m):
            raise ValueError("pair index out of range of models")
        if np.any(wi < 0) or np.any(wj < 0) or np.any(t < 0):
            raise RatingsInputError("negative battle count")
        swap = ia > ja
        lo = np.where(swap, ja, ia)
        hi = np.where(swap, ia, ja)
        wlo = np.where(swap, wj, wi)
        whi = np.where(swap, wi, wj)
        key, inverse = np.unique(lo * m + hi, return_inverse=True)
        size = key.size
        return cls(
            models=tuple(models),
            i=key // m,
            j=key % m,
            wins_i=wsum(inverse, wlo, size),
            wins_j=wsum(inverse, whi, size),
            ties=wsum(inverse, t, size),
        )

    @property
    def n_models(self) -> int:
        return len(self.models)

    @property
    def n(self) -> FloatArray:
        """Battles per pair."""
        return self.wins_i + self.wins_j + self.ties

    @property
    def total(self) -> float:
        return float(self.n.sum())

    def battles_per_model(self) -> FloatArray:
        m = self.n_models
        n = self.n
        return wsum(self.i, n, m) + wsum(self.j, n, m)

    def subset(self, keep: BoolArray) -> PairCounts:
        """Only pairs where ``keep`` is true (models unchanged)."""
        return PairCounts(
            self.models,
            self.i[keep],
            self.j[keep],
            self.wins_i[keep],
            self.wins_j[keep],
            self.ties[keep],
        )


def aggregate(
    models: Sequence[str],
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    outcome: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
) -> PairCounts:
    """Aggregate per-battle arrays into :class:`PairCounts`.

    Parameters
    ----------
    models : sequence of str
        Names for the indices in ``a`` and ``b``.
    a, b : array_like of int
        Indices of ``model_a`` and ``model_b`` per battle; ``a != b``.
    outcome : array_like of int
        Index into :data:`OUTCOMES` per battle: 0 ``model_a`` won, 1 ``model_b``
        won, 2 tie, 3 tie (both bad).
    weights : array_like of float, optional
        Per-battle weights (default 1).
    """
    aa = np.asarray(a, dtype=np.int64)
    bb = np.asarray(b, dtype=np.int64)
    oo = np.asarray(outcome, dtype=np.int64)
    m = len(models)
    if np.any(aa == bb):
        raise RatingsInputError(f"model {models[int(aa[np.argmax(aa == bb)])]!r} battles itself")
    if oo.size and (oo.min() < 0 or oo.max() > 3):
        raise ValueError("outcome codes must be 0..3")
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    # Count ordered (a, b, outcome) cells in one pass, then fold orientation on
    # the small cell table rather than on every battle.
    cell = (aa * m + bb) * 4 + oo
    if 4 * m * m <= _DENSE_CELL_LIMIT:
        dense = wsum(cell, w, 4 * m * m).reshape(m, m, 4)
        lo_won = np.triu(dense[:, :, 0], 1) + np.triu(dense[:, :, 1].T, 1)
        hi_won = np.triu(dense[:, :, 1], 1) + np.triu(dense[:, :, 0].T, 1)
        tied = dense[:, :, 2] + dense[:, :, 3]
        tied = np.triu(tied + tied.T, 1)
        keys = np.flatnonzero((lo_won + hi_won + tied).ravel())
        cells = np.stack([lo_won.ravel()[keys], hi_won.ravel()[keys], tied.ravel()[keys]], axis=1)
    else:
        uniq, inverse = np.unique(cell, return_inverse=True)
        counts = wsum(inverse, w, uniq.size)
        ca, cb, co = (uniq // 4) // m, (uniq // 4) % m, uniq % 4
        swap = ca > cb
        lo, hi = np.where(swap, cb, ca), np.where(swap, ca, cb)
        side = np.minimum(co, 2)
        side = np.where(swap & (side < 2), 1 - side, side)
        keys, pair_inv = np.unique(lo * m + hi, return_inverse=True)
        cells = np.zeros((keys.size, 3))
        np.add.at(cells, (pair_inv, side), counts)
    return PairCounts(
        models=tuple(models),
        i=keys // m,
        j=keys % m,
        wins_i=np.ascontiguousarray(cells[:, 0]),
        wins_j=np.ascontiguousarray(cells[:, 1]),
        ties=np.ascontiguousarray(cells[:, 2]),
    )


def counts_from_rows(rows: Iterable[tuple[str, str, str, float]]) -> PairCounts:
    """Pair counts from ``(model_a, model_b, winner, n)`` rows, e.g. SQL
    ``SELECT model_a, model_b, winner, count(*) ... GROUP BY 1, 2, 3``.

    ``winner`` uses :data:`OUTCOMES`; models are sorted by name.
    """
    data = list(rows)
    models = sorted({r[0] for r in data} | {r[1] for r in data})
    index = {name: k for k, name in enumerate(models)}
    code = {name: k for k, name in enumerate(OUTCOMES)}
    a, b, o, n = [], [], [], []
    for model_a, model_b, winner, count in data:
        if winner not in code:
            raise RatingsInputError(f"unknown winner {winner!r} for {model_a} vs {model_b}")
        a.append(index[model_a])
        b.append(index[model_b])
        o.append(code[winner])
        n.append(float(count))
    return aggregate(models, a, b, o, n)
