"""Uncertainty of Bradley-Terry ratings: sandwich covariance and bootstrap.

Both work on the natural-log scale of :mod:`ratings.bt` and on the mean-zero
ratings, as arena-rank and FastChat do (an anchor only shifts everything).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ratings.bt import (
    DEFAULT_TOL,
    fit_bt,
    laplacian,
    penalized_hessian,
    prior_gradient,
    sigmoid,
    solve_centered,
)
from ratings.counts import PairCounts, wsum
from ratings.errors import RatingsError
from ratings.types import FloatArray

__all__ = ["BLOCK", "Bootstrap", "bootstrap", "multinomial_cells", "sandwich_cov"]


#: Bootstrap rounds are drawn in blocks of this many, block ``b`` from the
#: ``b``-th child of ``SeedSequence(seed)``: results depend on seed and rounds
#: only, not on threads or memory.
BLOCK = 50
_CHORD_STEPS = 30


def sandwich_cov(
    counts: PairCounts, theta: FloatArray, *, prior: float | None = None
) -> FloatArray:
    """Robust (sandwich) covariance ``H^+ G H^+`` of the mean-zero ratings.

    ``H`` is the Fisher information and ``G`` the empirical covariance of the
    per-battle scores, both summed over pairs; an outcome ``y`` of a battle of
    ``i`` vs ``j`` contributes ``(y - p_ij)^2`` to ``G``. Matches arena-rank's
    ``ci_method="sandwich"`` (which regularises ``H`` by ``1e-5 * N`` instead of
    projecting out the shift). With a ``prior`` its curvature joins ``H`` (the
    bread) while ``G`` stays the real battles' scores: the virtual ties are not
    data, so they add no sampling noise.
    """
    p = sigmoid(theta[counts.i] - theta[counts.j])
    meat_w = counts.wins_i * (1.0 - p) ** 2 + counts.wins_j * p**2 + counts.ties * (0.5 - p) ** 2
    m = counts.n_models
    meat = laplacian(m, counts.i, counts.j, meat_w)
    h_inv = solve_centered(penalized_hessian(counts, theta, prior), np.eye(m) - 1.0 / m)
    cov: FloatArray = h_inv @ meat @ h_inv
    return cov


@dataclass(frozen=True)
class Bootstrap:
    """Bootstrap replicates of the ratings.

    Attributes
    ----------
    thetas : ndarray, shape (B', M)
        Mean-zero natural-scale ratings of the rounds whose MLE exists.
    dropped : int
        Rounds whose resample had no finite MLE (a model unbeaten in the
        resample); they are left out of ``thetas``. Always 0 with a prior.
    """

    thetas: FloatArray
    dropped: int


def _cells(counts: PairCounts) -> FloatArray:
    return np.stack([counts.wins_i, counts.wins_j, counts.ties], axis=1).ravel()


def multinomial_cells(rng: np.random.Generator, cells: FloatArray, rounds: int) -> FloatArray:
    """``rounds`` exact draws of ``Multinomial(round(sum(cells)), cells / sum(cells))``.

    NumPy's multinomial costs one binomial per cell; a Poisson per cell is about
    half that. Given their total ``T``, independent ``Poisson(cells)`` counts are
    ``Multinomial(T, cells / sum)``, so the draw is made exact by fixing the
    total: add ``N - T`` more categorical draws, or drop ``T - N`` of the ``T``
    drawn battles chosen uniformly without replacement (what remains of an
    exchangeable sample is a sample). ``|N - T|`` is about ``sqrt(N)``.
    """
    total = round(float(cells.sum()))
    draws = rng.poisson(cells, size=(rounds, cells.size)).astype(np.float64)
    short = total - draws.sum(axis=1)
    cdf = np.cumsum(cells)
    cdf /= cdf[-1]
    last = cells.size - 1
    for r in np.flatnonzero(short > 0):
        at = np.searchsorted(cdf, rng.random(int(short[r])), side="right")
        draws[r] += np.bincount(np.minimum(at, last), minlength=cells.size)
    for r in np.flatnonzero(short < 0):
        have = np.cumsum(draws[r])
        pos = np.sort(rng.choice(int(have[-1]), size=int(-short[r]), replace=False))
        draws[r] -= np.bincount(np.searchsorted(have, pos, side="right"), minlength=cells.size)
    return draws


def _block(
    counts: PairCounts,
    theta: FloatArray,
    h_inv: FloatArray,
    rounds: int,
    rng: np.random.Generator,
    tol: float,
    prior: float | None,
) -> tuple[FloatArray, int]:
    cells = _cells(counts)
    total = round(float(cells.sum()))
    scale = total + (prior or 0.0) * counts.n_models
    draws = multinomial_cells(rng, cells, rounds).reshape(rounds, -1, 3)
    score = draws[:, :, 0] + 0.5 * draws[:, :, 2]
    n = draws.sum(axis=2)
    m = counts.n_models
    i, j = counts.i, counts.j
    flat_i = (np.arange(rounds)[:, None] * m + i).ravel()
    flat_j = (np.arange(rounds)[:, None] * m + j).ravel()
    thetas = np.repeat(theta[None, :], rounds, axis=0)
    # Chord iterations: Newton steps reusing the full-data Hessian. Every round
    # shares the pair structure and lies close to the full-data fit, so this
    # contracts fast and costs two scatters and one small GEMM per step.
    active = np.ones(rounds, dtype=bool)
    for _ in range(_CHORD_STEPS):
        p = sigmoid(thetas[:, i] - thetas[:, j])
        r = (score - n * p).ravel()
        g = (wsum(flat_i, r, rounds * m) - wsum(flat_j, r, rounds * m)).reshape(rounds, m)
        if prior is not None:
            g += prior_gradient(thetas, prior)
        active = np.abs(g).max(axis=1) > tol * scale
        if not active.any():
            break
        thetas[active] += g[active] @ h_inv
    kept = np.ones(rounds, dtype=bool)
    for b in np.flatnonzero(active):
        sample = PairCounts(
            counts.models, i, j, draws[b, :, 0].copy(), draws[b, :, 1].copy(), draws[b, :, 2].copy()
        )
        try:
            thetas[b] = fit_bt(sample, tol=tol, theta0=theta, prior=prior).theta
        except RatingsError:
            kept[b] = False
    return thetas[kept], int((~kept).sum())


def bootstrap(
    counts: PairCounts,
    theta: FloatArray,
    rounds: int,
    seed: int,
    *,
    tol: float = DEFAULT_TOL,
    threads: int = 2,
    prior: float | None = None,
) -> Bootstrap:
    """Refit ``rounds`` multinomial resamples of the (pair, outcome) cells.

    Resampling the ``N`` battles with replacement only changes how many battles
    fall in each cell, which is one multinomial draw of ``N`` over the cells
    (FastChat's ``get_bootstrap_result_elo_mle_with_tie`` uses the same device).
    Each round is fitted to the same gradient tolerance as the point estimate,
    warm-started from it. A ``prior`` is kept in every round: only the real
    battles are resampled, the virtual ties stay as they are.
    """
    if rounds < 1:
        raise ValueError("bootstrap needs at least one round")
    m = counts.n_models
    h_inv = solve_centered(penalized_hessian(counts, theta, prior), np.eye(m) - 1.0 / m)
    sizes = [min(BLOCK, rounds - start) for start in range(0, rounds, BLOCK)]
    children = np.random.SeedSequence(seed).spawn(len(sizes))

    def run(k: int) -> tuple[FloatArray, int]:
        rng = np.random.default_rng(children[k])
        return _block(counts, theta, h_inv, sizes[k], rng, tol, prior)

    if threads > 1 and len(sizes) > 1:
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(run, range(len(sizes))))
    else:
        parts = [run(k) for k in range(len(sizes))]
    return Bootstrap(
        np.concatenate([t for t, _ in parts], axis=0).reshape(-1, m),
        sum(d for _, d in parts),
    )
