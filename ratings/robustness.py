"""How many votes keep each pair of neighbours on the board in order.

For every adjacent pair (``upper`` rated above ``lower``), the fewest votes
whose removal leaves ``upper`` no longer strictly above ``lower`` (ratings
within :data:`ratings.ranks.RANK_EPS` Elo count as level, as for ranks).

Method: the approximate maximum influence perturbation (AMIP, Broderick,
Giordano and Meager 2020) as Huang et al. apply it to Bradley-Terry
leaderboards ("Dropping just a handful of preferences can change top LLM
rankings", arXiv 2508.11847). Dropping one vote ``k`` of models ``(u, v)``
with score ``y`` moves the ratings by about ``-H^-1 (y - p_uv)(e_u - e_v)``,
so its first-order effect on the gap ``g = theta_i - theta_j`` is
``-(y - p_uv) (c_u - c_v)`` with ``c = H^-1 (e_i - e_j)``: one solve with
``H`` serves every pair, and all votes of one (pair, outcome) cell share it.
Votes are ranked by how much dropping them shrinks the gap; the first-order
count is where the cumulated effect reaches the gap.

That estimate is then checked: the ratings are refitted without the first
``n`` votes of that ranking (exact MLE to the fit's tolerance, warm-started,
all pairs in one batch) and ``n`` is moved until the refit without ``n``
votes swaps the pair and the refit without ``n - 1`` does not. The count is
therefore real, an upper bound on the true minimum over all vote subsets
(which is combinatorial); on small boards it matches exhaustive search.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ratings.bt import (
    DEFAULT_TOL,
    fit_bt,
    penalized_hessian,
    prior_gradient,
    sigmoid,
    solve_centered,
)
from ratings.counts import PairCounts, wsum
from ratings.errors import RatingsError
from ratings.graph import check_ratings_exist
from ratings.ranks import RANK_EPS
from ratings.types import BoolArray, FloatArray, IntArray

__all__ = ["PairRobustness", "RemovedVotes", "robustness"]

_ELO_PER_NAT = 400.0 / math.log(10.0)
#: Gap (natural scale) at or below which two ratings share a rank.
LEVEL = RANK_EPS / _ELO_PER_NAT
#: Most influential cells ranked per pair before falling back to a full sort.
_TOP = 256
_CHORD_STEPS = 25
_MAX_ROUNDS = 40
#: Score of a vote in each cell column: ``upper`` of the pair won, lost, tied.
_SCORE = np.array([1.0, 0.0, 0.5])


@dataclass(frozen=True)
class RemovedVotes:
    """Votes taken out, by cell.

    Attributes
    ----------
    pair : ndarray of int64
        Index into the pairs of the :class:`~ratings.counts.PairCounts`.
    outcome : ndarray of int64
        0: ``counts.i`` won, 1: ``counts.j`` won, 2: tie.
    votes : ndarray of float64
        How many votes of that cell (whole numbers unless the counts are weighted).
    """

    pair: IntArray
    outcome: IntArray
    votes: FloatArray


@dataclass(frozen=True)
class PairRobustness:
    """Robustness of one adjacent pair of the board.

    Attributes
    ----------
    upper, lower : int
        Model indices, ``upper`` rated higher.
    gap : float
        ``theta[upper] - theta[lower]`` on the natural scale.
    n_votes : int or None
        Fewest votes (along the influence ranking) whose removal swaps the
        pair; 0 when already level; ``None`` when removing every vote that
        helps does not swap them ("not within the data").
    estimate : int or None
        The first-order count before the refits.
    removed : RemovedVotes
        The ``n_votes`` votes.
    verified : bool
        A refit without ``removed`` puts ``lower`` level with or above ``upper``.
    """

    upper: int
    lower: int
    gap: float
    n_votes: int | None
    estimate: int | None
    removed: RemovedVotes
    verified: bool


class _Ranking:
    """One pair's cells in order of influence, and counts along that order."""

    def __init__(self, cells: IntArray, votes: FloatArray, effect: FloatArray) -> None:
        keep = (effect < 0) & (votes > 0)
        self.cells, self.votes = cells[keep], votes[keep]
        self.cum_votes = np.cumsum(self.votes)
        self.cum_drop = np.cumsum(self.votes * -effect[keep])
        self.rate = -effect[keep]
        self.total = math.ceil(float(self.cum_votes[-1]) - 1e-9) if self.cells.size else 0
        #: more cells would help than are ranked here
        self.truncated = False

    def drop(self, n: int) -> float:
        """First-order shrinkage of the gap after the first ``n`` votes."""
        k = int(np.searchsorted(self.cum_votes, n, side="right"))
        before = float(self.cum_drop[k - 1]) if k else 0.0
        if k == self.cells.size:
            return before
        done = float(self.cum_votes[k - 1]) if k else 0.0
        return before + (n - done) * float(self.rate[k])

    def votes_for(self, shrink: float) -> int | None:
        """Fewest votes whose first-order shrinkage reaches ``shrink``."""
        k = int(np.searchsorted(self.cum_drop, shrink, side="left"))
        if k == self.cells.size:
            return None
        before = float(self.cum_drop[k - 1]) if k else 0.0
        done = float(self.cum_votes[k - 1]) if k else 0.0
        return int(done) + max(1, math.ceil((shrink - before) / float(self.rate[k]) - 1e-9))

    def _take(self, n: int) -> FloatArray:
        out: FloatArray = np.clip(n - (self.cum_votes - self.votes), 0.0, self.votes)
        return out

    def removal(self, n: int) -> tuple[IntArray, FloatArray]:
        """Cells and vote counts of the first ``n`` votes."""
        take = self._take(n)
        used = take > 0
        return self.cells[used], take[used]

    def change(self, start: int, n: int) -> tuple[IntArray, FloatArray]:
        """Cells and signed counts that turn the first ``start`` votes into the first ``n``."""
        diff = self._take(n) - self._take(start)
        used = diff != 0
        return self.cells[used], diff[used]


def _rankings(
    counts: PairCounts, theta: FloatArray, h_inv: FloatArray, up: IntArray, lo: IntArray
) -> tuple[list[_Ranking], Callable[[int], _Ranking]]:
    """Each pair's most influential cells, and its full ranking on demand."""
    cells = np.stack([counts.wins_i, counts.wins_j, counts.ties], axis=1).ravel()
    p = sigmoid(theta[counts.i] - theta[counts.j])
    rho = (_SCORE[None, :] - p[:, None]).ravel()
    c = h_inv[:, up] - h_inv[:, lo]
    # effect[q, 3k + o]: gap change of pair q from dropping one vote of cell (k, o)
    effect = -(np.repeat(c[counts.i] - c[counts.j], 3, axis=0).T * rho)
    effect[:, cells <= 0] = 0.0
    top = min(_TOP, cells.size)
    if top < cells.size:
        part = np.argpartition(effect, top - 1, axis=1)[:, :top]
    else:
        part = np.broadcast_to(np.arange(cells.size), effect.shape)
    part_eff = np.take_along_axis(effect, part, axis=1)
    order = np.argsort(part_eff, axis=1, kind="stable")
    part = np.take_along_axis(part, order, axis=1)
    part_eff = np.take_along_axis(part_eff, order, axis=1)

    def full(q: int) -> _Ranking:
        every = np.argsort(effect[q], kind="stable")
        return _Ranking(every, cells[every], effect[q, every])

    out = []
    for q in range(up.size):
        rank = _Ranking(part[q], cells[part[q]], part_eff[q])
        if rank.cells.size < np.count_nonzero(effect[q] < 0):
            rank.truncated = True
            if float(rank.cum_drop[-1]) < 4.0 * float(theta[up[q]] - theta[lo[q]]):
                rank = full(q)
        out.append(rank)
    return out, full


def _cells_by_row(
    parts: list[tuple[IntArray, FloatArray]],
) -> tuple[IntArray, IntArray, FloatArray]:
    row = np.concatenate([np.full(c.size, r) for r, (c, _) in enumerate(parts)])
    cell = np.concatenate([c for c, _ in parts]).astype(np.int64)
    return row, cell, np.concatenate([t for _, t in parts])


def _refit(
    counts: PairCounts,
    h_inv: FloatArray,
    starts: FloatArray,
    removals: list[tuple[IntArray, FloatArray]],
    steps: list[tuple[IntArray, FloatArray]],
    prior: float | None,
    tol: float,
) -> tuple[FloatArray, BoolArray]:
    """Ratings without each row's ``removals``, all rows at once; and which rows exist.

    Row ``r`` starts from ``starts[r]``, a fit whose removed votes differ from
    ``removals[r]`` by ``steps[r]`` (signed): the first-order step for that
    difference touches only those cells. Then chord iterations (Newton steps
    with the full-data Hessian): every row differs from the full data in a
    handful of cells, so they contract fast. Rows that do not converge get a
    full Newton fit; rows whose MLE no longer exists are marked.
    """
    m, n_pairs, rows = counts.n_models, counts.i.size, len(removals)
    row, cell, take = _cells_by_row(removals)
    # removed votes per (row, pair) and outcome
    key, inverse = np.unique(row * n_pairs + cell // 3, return_inverse=True)
    rem = np.zeros((key.size, 3))
    np.add.at(rem, (inverse, cell % 3), take)
    rr, pp = key // n_pairs, key % n_pairs
    ii, jj = counts.i[pp], counts.j[pp]
    rem_score = rem @ _SCORE
    rem_n = rem.sum(axis=1)
    n = counts.n
    # score - n p = (score - n / 2) - (n / 2) tanh(d / 2)
    base = counts.wins_i + 0.5 * counts.ties - 0.5 * n
    half_n = 0.5 * n
    scale = counts.total - wsum(rr, rem_n, rows) + (prior or 0.0) * m
    flat_i = (np.arange(rows)[:, None] * m + counts.i).ravel()
    flat_j = (np.arange(rows)[:, None] * m + counts.j).ravel()

    def grad(t: FloatArray) -> FloatArray:
        r = t[:, counts.i]
        r -= t[:, counts.j]
        r *= 0.5
        np.tanh(r, out=r)
        r *= half_n
        np.subtract(base, r, out=r)
        r[rr, pp] -= rem_score - rem_n * sigmoid(t[rr, ii] - t[rr, jj])
        flat = r.ravel()
        g = (wsum(flat_i, flat, rows * m) - wsum(flat_j, flat, rows * m)).reshape(rows, m)
        return g if prior is None else g + prior_gradient(t, prior)

    srow, scell, stake = _cells_by_row(steps)
    si, sj = counts.i[scell // 3], counts.j[scell // 3]
    moved = stake * (_SCORE[scell % 3] - sigmoid(starts[srow, si] - starts[srow, sj]))
    g_first = np.zeros((rows, m))
    np.subtract.at(g_first, (srow, si), moved)
    np.add.at(g_first, (srow, sj), moved)
    thetas = starts + g_first @ h_inv
    active = np.ones(rows, dtype=bool)
    for _ in range(_CHORD_STEPS):
        g = grad(thetas)
        active = np.abs(g).max(axis=1) > tol * scale
        if not active.any():
            break
        thetas[active] += g[active] @ h_inv
    exists = np.ones(rows, dtype=bool)
    # The MLE exists while "scored against" stays strongly connected (see
    # ratings.graph): only a row that loses such an edge needs the check.
    lost = np.zeros(rows, dtype=bool)
    if prior is None:
        t_left = counts.ties[pp] - rem[:, 2]
        gone_i = (counts.wins_i[pp] + counts.ties[pp] > 0) & (
            counts.wins_i[pp] - rem[:, 0] + t_left <= 0
        )
        gone_j = (counts.wins_j[pp] + counts.ties[pp] > 0) & (
            counts.wins_j[pp] - rem[:, 1] + t_left <= 0
        )
        lost[rr[gone_i | gone_j]] = True
    for r in np.flatnonzero(active | lost):
        mine = rr == r
        left = np.stack([counts.wins_i, counts.wins_j, counts.ties], axis=1)
        left[pp[mine]] -= rem[mine]
        sample = PairCounts(counts.models, counts.i, counts.j, *(left.T.copy()))
        try:
            if lost[r]:
                check_ratings_exist(sample)
            if active[r]:
                thetas[r] = fit_bt(
                    sample, tol=tol, theta0=starts[r], check=False, prior=prior
                ).theta
        except RatingsError:
            exists[r] = False
    thetas -= thetas.mean(axis=1, keepdims=True)
    return thetas, exists


@dataclass
class _Search:
    """Bracket along one pair's ranking: ``low`` votes keep the order, ``high`` swap it."""

    rank: _Ranking
    gap: float
    #: refits that exist, by votes removed: warm starts for the next ones
    fits: dict[int, FloatArray]
    low: int = 0
    g_low: float | None = None
    high: int | None = None
    g_high: float = 0.0
    rounds: int = 0

    def done(self) -> bool:
        if self.high is not None:
            return self.high == self.low + 1
        return self.low >= self.rank.total

    def next_candidates(self) -> list[int]:
        rank, low, high = self.rank, self.low, self.high
        self.rounds += 1
        if high is None:
            # scale the first-order model by what the refits showed so far
            shrink = self.gap - self.g_low if self.g_low is not None else 0.0
            predicted = rank.drop(low)
            ratio = shrink / predicted if low and predicted > 0 and shrink > 0 else 1.0
            v = rank.votes_for(self.gap / ratio)
            v = rank.total if v is None else v
            if self.rounds > 3:
                v = max(v, 2 * low)
            v = min(max(v, low + 1), rank.total)
            return sorted({v, max(v - 1, low + 1)})
        if high - low <= 3:
            return list(range(low + 1, high))
        d_low, d_high = rank.drop(low), rank.drop(high)
        if self.g_low is None or self.g_low <= self.g_high or self.rounds > 4:
            v = (low + high) // 2
        else:
            cross = d_low + self.g_low * (d_high - d_low) / (self.g_low - self.g_high)
            v = rank.votes_for(cross) or (low + high) // 2
        v = min(max(v, low + 1), high - 1)
        return sorted({v, max(v - 1, low + 1)})

    def start(self, v: int) -> int:
        return min(self.fits, key=lambda k: abs(k - v))

    def record(self, v: int, g: float, valid: bool, theta: FloatArray) -> None:
        if valid:
            self.fits[v] = theta
        if valid and g <= LEVEL:
            if self.high is None or v < self.high:
                self.high, self.g_high = v, g
        elif v > self.low and (self.high is None or v < self.high):
            self.low, self.g_low = v, (g if valid else None)


def robustness(
    counts: PairCounts,
    theta: FloatArray | None = None,
    *,
    prior: float | None = None,
    tol: float = DEFAULT_TOL,
) -> list[PairRobustness]:
    """Fewest votes whose removal swaps each adjacent pair of the board.

    Parameters
    ----------
    counts : PairCounts
        The board's battles.
    theta : ndarray, optional
        The board's fitted ratings (natural scale); fitted here when omitted.
    prior : float, optional
        The board's prior (:func:`ratings.bt.fit_bt`); kept in every refit.
    tol : float
        Gradient tolerance of every refit, as in :func:`ratings.bt.fit_bt`.

    Returns
    -------
    list of PairRobustness
        One per adjacent pair, from the top of the board down.
    """
    m = counts.n_models
    if m < 2:
        return []
    if theta is None:
        theta = fit_bt(counts, tol=tol, prior=prior).theta
    theta = np.asarray(theta, dtype=np.float64) - float(np.mean(theta))
    order = np.argsort(-theta, kind="stable")
    up, lo = order[:-1], order[1:]
    h_inv = solve_centered(penalized_hessian(counts, theta, prior), np.eye(m) - 1.0 / m)
    ranks, full_ranking = _rankings(counts, theta, h_inv, up, lo)
    searches = [
        _Search(rank, float(theta[u] - theta[v]), {0: theta})
        for rank, u, v in zip(ranks, up, lo, strict=True)
    ]
    estimates = [s.rank.votes_for(s.gap) if s.gap > LEVEL else 0 for s in searches]
    open_ = [q for q, s in enumerate(searches) if s.gap > LEVEL and s.rank.total > 0]
    for _ in range(_MAX_ROUNDS):
        for q in open_:
            s = searches[q]
            if s.high is None and s.low >= s.rank.total and s.rank.truncated:
                # the most influential cells were not enough: start over on all of them
                searches[q] = _Search(full_ranking(q), s.gap, {0: theta})
        open_ = [q for q in open_ if not searches[q].done()]
        if not open_:
            break
        rows = [(q, v, searches[q].start(v)) for q in open_ for v in searches[q].next_candidates()]
        thetas, exists = _refit(
            counts,
            h_inv,
            np.stack([searches[q].fits[k] for q, _, k in rows]),
            [searches[q].rank.removal(v) for q, v, _ in rows],
            [searches[q].rank.change(k, v) for q, v, k in rows],
            prior,
            tol,
        )
        for r, (q, v, _) in enumerate(rows):
            g = float(thetas[r, up[q]] - thetas[r, lo[q]])
            searches[q].record(v, g, bool(exists[r]), thetas[r])
    out = []
    for q, s in enumerate(searches):
        level = s.gap <= LEVEL
        n = 0 if level else s.high
        cells, take = s.rank.removal(n) if n else (np.zeros(0, np.int64), np.zeros(0))
        out.append(
            PairRobustness(
                upper=int(up[q]),
                lower=int(lo[q]),
                gap=s.gap,
                n_votes=n,
                estimate=estimates[q],
                removed=RemovedVotes(cells // 3, cells % 3, take),
                verified=n is not None,
            )
        )
    return out
