"""The data of a style-controlled fit: battles one by one with their standardised covariates.

See :mod:`ratings.style` for the model; this module holds what it is fitted on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ratings.counts import PairCounts, aggregate
from ratings.types import FloatArray, IntArray

#: Feature stems; a battles file carries ``<stem>_a`` and ``<stem>_b`` columns.
STYLE_FEATURES: tuple[str, ...] = (
    "sum_assistant_tokens",
    "header_count",
    "list_count",
    "bold_count",
)


def normalize_features(features_a: npt.ArrayLike, features_b: npt.ArrayLike) -> FloatArray:
    """Per battle and feature: standardised ``(a - b) / (a + b)``; shape ``(N, F)``."""
    fa = np.asarray(features_a, dtype=np.float64)
    fb = np.asarray(features_b, dtype=np.float64)
    total = fa + fb
    total[total == 0] = 1.0
    x: FloatArray = np.subtract(fa, fb)
    x /= total
    del total
    x -= x.mean(axis=0)
    if x.shape[0] > 1:
        std = np.sqrt(np.einsum("ij,ij->j", x, x) / (x.shape[0] - 1))
        x /= np.where(std == 0, 1.0, std)
    return x


def feature_rank_check(x: FloatArray, tol: float = 1e-9) -> tuple[list[int], dict[int, str]]:
    """Which standardised feature columns can be fitted together.

    Greedy over columns in order: a column with (near) zero variance, or one that the kept
    columns already span (collinear), is left out, because the contextual BT has no unique
    coefficient for it. Returns the kept column indices and, per dropped index, the reason
    (``"zero variance"`` or ``"collinear"``).
    """
    n, f = x.shape
    if n == 0:
        return list(range(f)), {}
    gram = np.asarray(x.T @ x, dtype=np.float64) / max(n - 1, 1)
    kept: list[int] = []
    dropped: dict[int, str] = {}
    for j in range(f):
        if gram[j, j] <= tol:
            dropped[j] = "zero variance"
            continue
        trial = [*kept, j]
        sub = gram[np.ix_(trial, trial)]
        # Smallest eigenvalue relative to the largest: 0 when the column adds nothing new.
        eig = np.linalg.eigvalsh(sub)
        if eig[0] <= tol * max(float(eig[-1]), 1.0):
            dropped[j] = "collinear"
            continue
        kept.append(j)
    return kept, dropped


@dataclass(frozen=True, eq=False)
class StyleBattles:
    """Battles one by one, each with its style covariates.

    Attributes
    ----------
    models : tuple of str
        Model names; indices in ``a`` and ``b`` point into it.
    a, b : ndarray of int64, shape (N,)
        ``model_a`` and ``model_b`` of each battle, as in
        :func:`ratings.counts.aggregate`.
    outcome : ndarray of int64, shape (N,)
        Index into :data:`ratings.counts.OUTCOMES` per battle.
    x : ndarray of float64, shape (N, F)
        Covariates, e.g. from :func:`normalize_features`.
    """

    models: tuple[str, ...]
    a: IntArray
    b: IntArray
    outcome: IntArray
    x: FloatArray

    def __post_init__(self) -> None:
        n = self.a.shape
        for name in ("b", "outcome"):
            if getattr(self, name).shape != n:
                raise ValueError(f"StyleBattles.{name} has the wrong shape")
        if self.x.ndim != 2 or self.x.shape[0] != n[0]:
            raise ValueError("StyleBattles.x needs one row per battle")

    @classmethod
    def from_arrays(
        cls,
        models: Sequence[str],
        a: npt.ArrayLike,
        b: npt.ArrayLike,
        outcome: npt.ArrayLike,
        x: npt.ArrayLike,
    ) -> StyleBattles:
        """Convert to the stored dtypes; ``x`` of shape ``(N,)`` is one feature."""
        aa = np.asarray(a, dtype=np.int64)
        return cls(
            models=tuple(models),
            a=aa,
            b=np.asarray(b, dtype=np.int64),
            outcome=np.asarray(outcome, dtype=np.int64),
            x=np.asarray(x, dtype=np.float64).reshape(aa.size, -1),
        )

    @classmethod
    def from_features(
        cls,
        models: Sequence[str],
        a: npt.ArrayLike,
        b: npt.ArrayLike,
        outcome: npt.ArrayLike,
        features_a: npt.ArrayLike,
        features_b: npt.ArrayLike,
    ) -> StyleBattles:
        """Raw per-side feature counts, normalised by :func:`normalize_features`."""
        return cls.from_arrays(models, a, b, outcome, normalize_features(features_a, features_b))

    @property
    def n_models(self) -> int:
        return len(self.models)

    @property
    def n_battles(self) -> int:
        return int(self.a.size)

    @property
    def n_features(self) -> int:
        return int(self.x.shape[1])

    def battles_per_model(self) -> IntArray:
        m = self.n_models
        out: IntArray = np.bincount(self.a, minlength=m) + np.bincount(self.b, minlength=m)
        return out

    def counts(self, weights: FloatArray | None = None) -> PairCounts:
        """The battles without their covariates, as :class:`~ratings.counts.PairCounts`."""
        return aggregate(self.models, self.a, self.b, self.outcome, weights)
