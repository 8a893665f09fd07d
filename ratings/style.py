"""Style control: contextual Bradley-Terry with per-battle style covariates.

``logit P(A beats B) = theta_A - theta_B + x . beta`` where ``x`` holds, per
feature, the relative difference ``(a - b) / (a + b)`` (``a + b = 0`` counts as
1) standardised to mean 0 and standard deviation 1 over the battles (sample
std, ``ddof=1``), exactly as lmarena/arena-rank's example pipeline prepares
``sum_assistant_tokens``, ``header_count``, ``list_count``, ``bold_count``.
``theta`` are the style-adjusted ratings; ``beta`` the style coefficients.
Unlike arena-rank the default fit is unpenalised MLE (``reg=0``) and
unweighted, matching the plain Bradley-Terry board; ``prior=P`` adds the same
virtual ties against the mean as :func:`ratings.bt.fit_bt` to the ratings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ratings.bt import (
    DEFAULT_TOL,
    check_prior,
    fit_bt,
    prior_curvature,
    prior_gradient,
    prior_value,
    sigmoid,
)
from ratings.counts import wsum
from ratings.errors import ConvergenceError, RatingsError, RatingsInputError
from ratings.graph import check_ratings_exist
from ratings.style_battles import (
    STYLE_FEATURES,
    StyleBattles,
    feature_rank_check,
    normalize_features,
)
from ratings.types import FloatArray, IntArray

__all__ = [
    "STYLE_FEATURES",
    "StyleBattles",
    "StyleFit",
    "feature_rank_check",
    "fit_style",
    "normalize_features",
    "style_bootstrap",
    "style_sandwich",
]


@dataclass(frozen=True)
class StyleFit:
    """``theta`` mean-zero ratings (natural scale), ``coef`` style coefficients."""

    theta: FloatArray
    coef: FloatArray
    iterations: int
    grad_norm: float


class _Design:
    """Per-battle scores and weights, and the pieces of gradient/Hessian they produce.

    Everything that depends on the models only through ``e_a - e_b`` is first
    summed into the ``M x M`` table of ordered pairs (one ``bincount`` over the
    battles), then folded to per-model sums: one pass per weight vector instead
    of one per side.
    """

    def __init__(self, battles: StyleBattles, weights: npt.ArrayLike | None) -> None:
        self.m = battles.n_models
        self.key = battles.a * self.m + battles.b
        # features by row, so per-feature weights are contiguous for bincount
        self.xt = np.ascontiguousarray(battles.x.T)
        o = battles.outcome
        self.y = np.where(o == 0, 1.0, np.where(o == 1, 0.0, 0.5))
        self.w = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.total = float(self.y.size if self.w is None else self.w.sum())
        self.dead = np.flatnonzero(~np.any(self.xt, axis=1))
        # sum_k w_k y_k z_k is linear in (theta, coef): its coefficients, once
        wy = self.weighted(self.y)
        self.score = np.concatenate([self._fold(wy)[1], self.xt @ wy])

    def weighted(self, v: FloatArray) -> FloatArray:
        return v if self.w is None else v * self.w

    def logits(self, theta: FloatArray, coef: FloatArray) -> FloatArray:
        """``theta_a - theta_b + x . coef`` per battle (linear in both)."""
        z: FloatArray = (theta[:, None] - theta[None, :]).ravel()[self.key]
        z += coef @ self.xt
        return z

    def loglik(self, z: FloatArray, theta: FloatArray, coef: FloatArray) -> float:
        """Log-likelihood at logits ``z = logits(theta, coef)``."""
        soft = np.logaddexp(0.0, z)
        linear = float(self.score[: self.m] @ theta + self.score[self.m :] @ coef)
        return linear - float(soft.sum() if self.w is None else self.w @ soft)

    def _fold(self, v: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Pair table of ``v``; and ``sum_k v_k (e_a - e_b)``."""
        m = self.m
        t = wsum(self.key, v, m * m).reshape(m, m)
        return t, t.sum(axis=1) - t.sum(axis=0)

    def gradient(self, z: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Gradient of the log-likelihood at logits ``z``, and ``p = sigmoid(z)``."""
        p = sigmoid(z)
        r = self.weighted(self.y - p)
        return np.concatenate([self._fold(r)[1], self.xt @ r]), p

    def matrix(self, v: FloatArray) -> FloatArray:
        """``sum_k v_k [d_k; x_k][d_k; x_k]^T`` as an ``(M + F)`` square matrix."""
        m, f = self.m, self.xt.shape[0]
        out = np.empty((m + f, m + f))
        t, _ = self._fold(v)
        sym = t + t.T
        out[:m, :m] = -sym
        out[np.arange(m), np.arange(m)] = sym.sum(axis=1)
        vx = self.xt * v
        cross = (
            np.stack([self._fold(vx[k])[1] for k in range(f)], axis=1) if f else np.zeros((m, 0))
        )
        out[:m, m:] = cross
        out[m:, :m] = cross.T
        out[m:, m:] = vx @ self.xt.T
        return out


NOT_IDENTIFIABLE = (
    "the style coefficients are not identifiable from these battles "
    "(singular information matrix): more battles are needed"
)


def _inverse(h: FloatArray) -> FloatArray:
    """``h^-1``, or a named error: with few battles the covariates can be unidentifiable
    even when every column varies (more unknowns than informative battles)."""
    try:
        inv = np.asarray(np.linalg.inv(h), dtype=np.float64)
    except np.linalg.LinAlgError:
        raise RatingsInputError(NOT_IDENTIFIABLE) from None
    return inv


def _solve(h: FloatArray, g: FloatArray) -> FloatArray:
    try:
        return np.asarray(np.linalg.solve(h, g), dtype=np.float64)
    except np.linalg.LinAlgError:
        raise RatingsInputError(NOT_IDENTIFIABLE) from None


def _augment(h: FloatArray, m: int, dead: IntArray) -> FloatArray:
    """Make ``h`` invertible without changing the step.

    Adds ``c 11^T`` to the rating block (pins the shift direction to sum 0) and
    1 to the diagonal of all-zero features (a constant feature, standardised to
    zeros, has no gradient, so its coefficient simply stays 0).
    """
    out = h.copy()
    out[:m, :m] += max(float(np.trace(h[:m, :m])) / (m * m), 1e-300)
    out[m + dead, m + dead] += 1.0
    return out


def fit_style(
    battles: StyleBattles,
    *,
    weights: npt.ArrayLike | None = None,
    reg: float = 0.0,
    tol: float = DEFAULT_TOL,
    max_iter: int = 100,
    start: StyleFit | None = None,
    check: bool = True,
    prior: float | None = None,
) -> StyleFit:
    """Contextual Bradley-Terry MLE by Newton's method.

    Parameters
    ----------
    battles : StyleBattles
        The battles and their covariates.
    weights : array_like, shape (N,), optional
        Per-battle weights (bootstrap counts).
    reg : float
        Ridge penalty ``reg/2 * |beta|^2`` on the total log-likelihood.
    tol : float
        Stop when ``max |gradient| <= tol * total weight``.
    max_iter : int
        Newton steps before giving up with :class:`~ratings.errors.ConvergenceError`.
    start : StyleFit, optional
        Warm start (the bootstrap starts every round from the full fit).
    check : bool
        Raise first if the ratings do not exist (disconnected or unbeaten
        models); with a prior only a board without battles raises.
    prior : float, optional
        ``P > 0`` virtual ties of every model against the mean rating.
    """
    check_prior(prior)
    m = battles.n_models
    d = _Design(battles, weights)
    counts = None
    if check and prior is None:
        counts = battles.counts(d.w)
        check_ratings_exist(counts)
    elif check and d.total <= 0:
        raise RatingsInputError("no battles to rate")
    f = battles.n_features
    if start is None:
        # The plain board is a cheap fit on pair counts and close to the
        # style-adjusted one: starting there saves full passes over the battles.
        counts = battles.counts(d.w) if counts is None else counts
        try:
            theta = fit_bt(counts, tol=1e-6, check=False, prior=prior).theta
        except RatingsError:
            theta = np.zeros(m)
        coef = np.zeros(f)
    else:
        theta, coef = start.theta.copy(), start.coef.copy()

    def objective(z: FloatArray, t: FloatArray, c: FloatArray) -> float:
        value = d.loglik(z, t, c) - 0.5 * reg * float(c @ c)
        return value if prior is None else value + prior_value(t, prior)

    total = max(d.total + (prior or 0.0) * m, 1e-300)

    z = d.logits(theta, coef)
    ll = objective(z, theta, coef)
    gnorm = np.inf
    for it in range(max_iter + 1):
        g, p = d.gradient(z)
        g[m:] -= reg * coef
        if prior is not None:
            g[:m] += prior_gradient(theta, prior)
        gnorm = float(np.abs(g).max()) / total
        if gnorm <= tol:
            return StyleFit(theta, coef, it, gnorm)
        if it == max_iter:
            break
        h = d.matrix(d.weighted(p * (1.0 - p)))
        h[m:, m:] += reg * np.eye(f)
        if prior is not None:
            h[:m, :m] += prior_curvature(theta, prior)
        step = _solve(_augment(h, m, d.dead), g)
        dz = d.logits(step[:m], step[m:])
        slack = 1e-12 * max(abs(ll), 1.0)
        alpha = 1.0
        for _ in range(60):
            cand_z = z + alpha * dz
            cand_t = theta + alpha * step[:m]
            cand_t -= cand_t.mean()
            cand_c = coef + alpha * step[m:]
            cand_ll = objective(cand_z, cand_t, cand_c)
            if cand_ll >= ll - slack:
                break
            alpha *= 0.5
        else:
            raise ConvergenceError(f"style fit line search failed at step {it}")
        theta, coef, ll, z = cand_t, cand_c, cand_ll, cand_z
    raise ConvergenceError(
        f"style fit did not reach gradient tolerance {tol:g} in {max_iter} steps "
        f"(gradient {gnorm:.3g})"
    )


def style_sandwich(
    battles: StyleBattles, fit: StyleFit, *, reg: float = 0.0, prior: float | None = None
) -> FloatArray:
    """Sandwich covariance of ``(theta, coef)``, shape ``(M + F, M + F)``.

    A ``prior`` joins the bread only, as in :func:`ratings.intervals.sandwich_cov`.
    """
    m = battles.n_models
    d = _Design(battles, None)
    p = sigmoid(d.logits(fit.theta, fit.coef))
    h = d.matrix(p * (1.0 - p))
    h[m:, m:] += reg * np.eye(battles.n_features)
    if prior is not None:
        h[:m, :m] += prior_curvature(fit.theta, prior)
    meat = d.matrix((d.y - p) ** 2)
    h_inv = _inverse(_augment(h, m, d.dead))
    cov: FloatArray = h_inv @ meat @ h_inv
    return cov


def style_bootstrap(
    battles: StyleBattles,
    fit: StyleFit,
    rounds: int,
    seed: int,
    *,
    reg: float = 0.0,
    tol: float = DEFAULT_TOL,
    prior: float | None = None,
) -> FloatArray:
    """Ratings of ``rounds`` battle resamples (multinomial battle weights); ``(B, M)``.

    Costs one Newton fit over all battles per round, warm-started from ``fit``;
    a ``prior`` stays in every round (only real battles are resampled).
    """
    n = battles.n_battles
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    out = np.empty((rounds, battles.n_models))
    for r in range(rounds):
        w = rng.multinomial(n, np.full(n, 1.0 / n)).astype(np.float64)
        out[r] = fit_style(
            battles, weights=w, reg=reg, tol=tol, start=fit, check=False, prior=prior
        ).theta
    return out
