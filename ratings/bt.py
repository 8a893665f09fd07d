"""Bradley-Terry maximum likelihood on aggregated pair counts, by Newton's method.

Model: ``P(i beats j) = sigmoid(theta_i - theta_j)`` on the natural-log odds scale;
a tie counts as half a win for each side (the LMSYS convention), which is the
same likelihood as FastChat's "one tie = one win each, one win = two wins".
Ratings are identified by ``sum(theta) = 0``.

Convergence is declared when the largest gradient component of the total
log-likelihood is at most ``tol`` times the number of battles (default 1e-10);
Newton converges quadratically, so the stated tolerance is reached in a handful
of steps and the ratings are then exact to ~1e-8 Elo.

With ``prior=P`` every model also plays ``P`` virtual ties against a virtual
model sitting at the mean rating, adding ``P * sum_i [log s(t_i) + log s(-t_i)] / 2``
(``t = theta - mean(theta)``, ``s`` the sigmoid) to the log-likelihood. The
term is strictly concave, so the penalised optimum is finite and unique on any
board (unbeaten models, disconnected graphs, a single vote), and it vanishes as
``P -> 0``, where the fit tends to the MLE wherever that exists. The virtual
model sits at the mean rather than at a fixed point, so ratings stay identified
by ``sum(theta) = 0`` exactly as without a prior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ratings.counts import PairCounts, wsum
from ratings.errors import ConvergenceError, RatingsInputError
from ratings.graph import check_ratings_exist
from ratings.types import FloatArray, IntArray

__all__ = [
    "DEFAULT_TOL",
    "BTFit",
    "check_prior",
    "fit_bt",
    "gradient",
    "hessian",
    "laplacian",
    "log_likelihood",
    "objective",
    "penalized_hessian",
    "prior_curvature",
    "prior_gradient",
    "prior_value",
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
        Log-likelihood of the battles at ``theta`` (without the prior term).
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


def prior_value(theta: FloatArray, prior: float) -> float:
    t = theta - theta.mean()
    # log s(t) + log s(-t) = -(logaddexp(0, -t) + logaddexp(0, t))
    return -0.5 * prior * float(np.sum(np.logaddexp(0.0, -t) + np.logaddexp(0.0, t)))


def objective(counts: PairCounts, theta: FloatArray, prior: float | None = None) -> float:
    """Log-likelihood plus the prior's virtual ties (just the log-likelihood without one)."""
    ll = log_likelihood(counts, theta)
    return ll if prior is None else ll + prior_value(theta, prior)


def prior_gradient(theta: FloatArray, prior: float) -> FloatArray:
    """Gradient of the prior term; sums to zero because the virtual model follows the mean.

    ``theta`` may hold several rating vectors as rows (the bootstrap's rounds).
    """
    t = theta - theta.mean(axis=-1, keepdims=True)
    g = prior * (0.5 - sigmoid(t))
    out: FloatArray = g - g.mean(axis=-1, keepdims=True)
    return out


def prior_curvature(theta: FloatArray, prior: float) -> FloatArray:
    """Negative Hessian of the prior term: ``Pi diag(c) Pi`` with ``Pi = I - 11^T / m``."""
    p = sigmoid(theta - theta.mean())
    c = prior * p * (1.0 - p)
    m = c.size
    out: FloatArray = np.diag(c) - (c[:, None] + c[None, :]) / m + c.sum() / (m * m)
    return out


def penalized_hessian(
    counts: PairCounts, theta: FloatArray, prior: float | None = None
) -> FloatArray:
    """Negative Hessian of :func:`objective`: the Fisher information plus the prior's."""
    h = hessian(counts, theta)
    return h if prior is None else h + prior_curvature(theta, prior)


def check_prior(prior: float | None) -> None:
    """Raise :class:`RatingsInputError` unless ``prior`` is ``None`` or a finite number > 0."""
    if prior is not None and not (math.isfinite(prior) and prior > 0):
        raise RatingsInputError(
            f"prior must be a number > 0 (virtual ties per model), not {prior:g}"
        )


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
    prior: float | None = None,
) -> BTFit:
    """Maximum-likelihood Bradley-Terry ratings (maximum a posteriori with ``prior``).

    Parameters
    ----------
    counts : PairCounts
        Aggregated battles.
    tol : float
        Stop when ``max |gradient| <= tol * battles`` (virtual ties included).
    max_iter : int
        Newton steps allowed before :class:`ConvergenceError`.
    theta0 : ndarray, optional
        Starting point (default zeros).
    check : bool
        Without a prior, verify first that the MLE exists (connected graph,
        nobody unbeaten); raises :class:`DisconnectedGraphError` /
        :class:`UnboundedRatingsError`. With a prior only "no battles" raises.
    prior : float, optional
        ``P > 0`` virtual ties of every model against the mean (module docstring).
    """
    check_prior(prior)
    if check and prior is None:
        check_ratings_exist(counts)
    elif check and counts.total <= 0:
        raise RatingsInputError("no battles to rate")
    m = counts.n_models
    theta = np.zeros(m) if theta0 is None else np.array(theta0, dtype=np.float64)
    theta -= theta.mean()
    total = max(counts.total + (prior or 0.0) * m, 1e-300)
    ll = objective(counts, theta, prior)
    for it in range(max_iter + 1):
        r, p = _pair_residual(counts, theta)
        g = _scatter(m, counts.i, counts.j, r)
        if prior is not None:
            g += prior_gradient(theta, prior)
        gnorm = float(np.abs(g).max()) / total if m else 0.0
        if gnorm <= tol:
            return BTFit(theta, it, gnorm, log_likelihood(counts, theta))
        if it == max_iter:
            break
        h = laplacian(m, counts.i, counts.j, counts.n * p * (1.0 - p))
        if prior is not None:
            h += prior_curvature(theta, prior)
        step = solve_centered(h, g)
        # Backtrack on the concave objective; far from the optimum a full
        # Newton step can overshoot where the sigmoid saturates.
        slack = 1e-12 * max(abs(ll), 1.0)
        for _ in range(60):
            cand = theta + step
            cand -= cand.mean()
            cand_ll = objective(counts, cand, prior)
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
