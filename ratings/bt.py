"""Bradley-Terry maximum likelihood on aggregated pair counts, by Newton's method.

Model: ``P(i beats j) = sigmoid(theta_i - theta_j)`` on the natural-log odds scale;
a tie counts as half a win for each side (the LMSYS convention), which is the
same likelihood as FastChat's "one tie = one win each, one win = two wins".
Ratings are identified by ``sum(theta) = 0``.

Convergence is declared when the largest gradient component of the total
log-likelihood is at most ``tol`` times the number of battles (default 1e-10);
Newton converges quadratically, so the stated tolerance is reached in a handful
of steps and the ratings are then exact to ~1e-8 Elo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ratings.counts import PairCounts, wsum
from ratings.errors import ConvergenceError
from ratings.graph import check_ratings_exist
from ratings.types import FloatArray, IntArray

__all__ = [
    "DEFAULT_TOL",
    "BTFit",
    "fit_bt",
    "gradient",
    "hessian",
    "laplacian",
    "log_likelihood",
    "sigmoid",
    "solve_centered",
]


DEFAULT_TOL = 1e-10
DEFAULT_MAX_ITER = 100


@dataclass(frozen=True)
class BTFit:
    """Result of :func:`fit_bt`.

    Attributes
    ----------
    theta : ndarray, shape (M,)
        Ratings on the natural-log odds scale, summing to zero.
    iterations : int
        Newton steps taken.
    grad_norm : float
        Final ``max |gradient| / battles``.
    log_likelihood : float
        Log-likelihood at ``theta``.
    """

    theta: FloatArray
    iterations: int
    grad_norm: float
    log_likelihood: float


def sigmoid(x: FloatArray) -> FloatArray:
    """Logistic function, written with tanh so it never overflows."""
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def log_likelihood(counts: PairCounts, theta: FloatArray) -> float:
    d = theta[counts.i] - theta[counts.j]
    score = counts.wins_i + 0.5 * counts.ties
    return float(np.sum(score * d - counts.n * np.logaddexp(0.0, d)))


def _pair_residual(counts: PairCounts, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per pair: derivative of the log-likelihood by ``theta_i - theta_j``, and ``p_ij``."""
    p = sigmoid(theta[counts.i] - theta[counts.j])
    return counts.wins_i + 0.5 * counts.ties - counts.n * p, p


def _scatter(m: int, i: IntArray, j: IntArray, r: FloatArray) -> FloatArray:
    out: FloatArray = wsum(i, r, m) - wsum(j, r, m)
    return out


def gradient(counts: PairCounts, theta: FloatArray) -> FloatArray:
    """Gradient of the log-likelihood."""
    r, _ = _pair_residual(counts, theta)
    return _scatter(counts.n_models, counts.i, counts.j, r)


def laplacian(m: int, i: IntArray, j: IntArray, w: FloatArray) -> FloatArray:
    """``sum_k w_k (e_i - e_j)(e_i - e_j)^T`` as a dense ``(m, m)`` matrix."""
    off = wsum(i * m + j, w, m * m).reshape(m, m)
    lap = -(off + off.T)
    lap[np.diag_indices(m)] = wsum(i, w, m) + wsum(j, w, m)
    return lap


def hessian(counts: PairCounts, theta: FloatArray) -> FloatArray:
    """Negative Hessian of the log-likelihood (the Fisher information)."""
    p = sigmoid(theta[counts.i] - theta[counts.j])
    return laplacian(counts.n_models, counts.i, counts.j, counts.n * p * (1.0 - p))


def solve_centered(h: FloatArray, g: FloatArray) -> FloatArray:
    """Solve ``h x = g`` for ``x`` summing to zero, where ``h 1 = 0`` and ``1^T g = 0``.

    Adding ``c * 11^T`` makes ``h`` invertible without changing the answer:
    summing the rows of ``(h + c 11^T) x = g`` gives ``c m sum(x) = 0``.
    ``g`` may hold several right-hand sides as columns.
    """
    m = h.shape[0]
    c = max(float(np.trace(h)) / (m * m), 1e-300)
    x: FloatArray = np.linalg.solve(h + c, g)
    return x


def fit_bt(
    counts: PairCounts,
    *,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    theta0: FloatArray | None = None,
    check: bool = True,
) -> BTFit:
    """Maximum-likelihood Bradley-Terry ratings.

    Parameters
    ----------
    counts : PairCounts
        Aggregated battles.
    tol : float
        Stop when ``max |gradient| <= tol * battles``.
    max_iter : int
        Newton steps allowed before :class:`ConvergenceError`.
    theta0 : ndarray, optional
        Starting point (default zeros).
    check : bool
        Verify first that the MLE exists (connected graph, nobody unbeaten);
        raises :class:`DisconnectedGraphError` / :class:`UnboundedRatingsError`.
    """
    if check:
        check_ratings_exist(counts)
    m = counts.n_models
    theta = np.zeros(m) if theta0 is None else np.array(theta0, dtype=np.float64)
    theta -= theta.mean()
    total = max(counts.total, 1e-300)
    ll = log_likelihood(counts, theta)
    for it in range(max_iter + 1):
        r, p = _pair_residual(counts, theta)
        g = _scatter(m, counts.i, counts.j, r)
        gnorm = float(np.abs(g).max()) / total if m else 0.0
        if gnorm <= tol:
            return BTFit(theta, it, gnorm, ll)
        if it == max_iter:
            break
        h = laplacian(m, counts.i, counts.j, counts.n * p * (1.0 - p))
        step = solve_centered(h, g)
        # Backtrack on the concave log-likelihood; far from the optimum a full
        # Newton step can overshoot where the sigmoid saturates.
        slack = 1e-12 * max(abs(ll), 1.0)
        for _ in range(60):
            cand = theta + step
            cand -= cand.mean()
            cand_ll = log_likelihood(counts, cand)
            if cand_ll >= ll - slack:
                break
            step *= 0.5
        else:
            raise ConvergenceError(
                f"Bradley-Terry line search failed at step {it} (gradient {gnorm:.3g})"
            )
        theta, ll = cand, cand_ll
    raise ConvergenceError(
        f"Bradley-Terry fit did not reach gradient tolerance {tol:g} in {max_iter} "
        f"Newton steps (gradient {gnorm:.3g})"
    )
