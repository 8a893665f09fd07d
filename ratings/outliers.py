"""Is a voter's record probable under the board? A sequential likelihood-ratio test.

The null hypothesis is "this voter's choices follow the board": in a battle of ``a``
against ``b`` the expected score of ``a`` (a win 1, a tie 1/2, a loss 0) is the
board's predicted ``p_a``, which is what a Bradley-Terry fit with ties as half a win
estimates. Every vote is seen from the board's favourite ``f`` (``p_f >= 1/2``, score
``y_f``) and the test only ever bets that the underdog does better than predicted::

    factor = 1 + stake * (p_f - y_f),   0 <= stake <= 1 / (1 - p_f)

With any stake fixed before the vote is seen, each factor has expectation at most 1
under the null, so the running product ``M`` is a nonnegative supermartingale and by
Ville's inequality ``P(sup_n M_n >= 1 / alpha) <= alpha`` for an honest voter, however
many votes they cast and whenever they stop. The statistic is ``log M`` where ``M`` is
the equal-weight mixture of three such bets, one per kind of voter it is built to find:

* random: the likelihood ratio of a voter who picks a side at random, stake
  ``(p_f - 1/2) / (p_f (1 - p_f))`` (for a decisive vote exactly ``(1/2) / p``);
* contrarian: half the largest stake, ``1/2 / (1 - p_f)``, on every battle with a favourite;
* partisan: 0.7 of the largest stake, only when this voter's earlier votes gave the
  underdog more than the board predicted (a client pushing one model whenever it is
  the weaker side). It looks at earlier votes only, so the bound still holds.

This is FastChat's ``outlier_detect`` (``fastchat/serve/monitor/elo_analysis.py``:
a product of ``1 / (2 p)`` over a voter's first 100 votes against ``1 / alpha``) with
the board's Bradley-Terry predictions in place of each pair's empirical vote shares,
ties kept as half a win rather than dropped, and one-sided bets: a vote for the
board's favourite never raises ``M``, so a voter who always picks the higher-rated
model has the lowest statistic there is and is never flagged.

The board is uncertain: each predicted gap is first shrunk toward 0 by the sum of the
two ratings' interval half-widths. If the true gap is at least the shrunk one (both
true ratings inside their intervals), the factors keep expectation at most 1; a pair
the board cannot separate has no favourite and bets nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ratings.types import FloatArray, IntArray

__all__ = [
    "STAKES",
    "BoardEvidence",
    "board_evidence",
    "earlier_excess",
    "evidence_path",
    "predicted_score",
]

#: Fractions of the largest stake ``1 / (1 - p_f)`` for the contrarian and partisan bets.
STAKES = {"contrarian": 0.5, "partisan": 0.7}
#: Predicted probabilities are kept this far from 0 and 1 so no single vote is infinite.
_P_EDGE = 1e-6
_NATS_PER_ELO = math.log(10.0) / 400.0


def predicted_score(
    rating_a: npt.ArrayLike,
    rating_b: npt.ArrayLike,
    half_width_a: npt.ArrayLike = 0.0,
    half_width_b: npt.ArrayLike = 0.0,
) -> FloatArray:
    """The board's expected score of side ``a`` (Elo ratings, interval half-widths in Elo).

    The gap is shrunk toward 0 by ``half_width_a + half_width_b`` before the logistic,
    so a pair inside each other's intervals is predicted as a coin flip.
    """
    d = np.asarray(rating_a, dtype=np.float64) - np.asarray(rating_b, dtype=np.float64)
    slack = np.asarray(half_width_a, dtype=np.float64) + np.asarray(half_width_b, dtype=np.float64)
    shrunk = np.sign(d) * np.maximum(np.abs(d) - slack, 0.0)
    out: FloatArray = 1.0 / (1.0 + np.exp(-_NATS_PER_ELO * shrunk))
    return out


def earlier_excess(a: IntArray, b: IntArray, excess_a: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per vote, each side's summed excess score over this voter's *earlier* votes.

    ``excess_a`` is ``score_a - p_a``; side ``b`` gains its negative. Labels in ``a``
    and ``b`` are any integers (model ids).
    """
    n = a.size
    model = np.concatenate([a, b])
    when = np.concatenate([np.arange(n), np.arange(n)])
    gain = np.concatenate([excess_a, -excess_a])
    order = np.lexsort((when, model))
    sorted_gain = gain[order]
    running = np.cumsum(sorted_gain)
    start = np.r_[True, model[order][1:] != model[order][:-1]]
    # index of the first event of each event's model, carried forward
    first = np.maximum.accumulate(np.where(start, np.arange(2 * n), 0))
    before = running - sorted_gain - (running[first] - sorted_gain[first])
    out = np.empty(2 * n)
    out[order] = before
    return out[:n], out[n:]


def evidence_path(
    a: npt.ArrayLike, b: npt.ArrayLike, p_a: npt.ArrayLike, score_a: npt.ArrayLike
) -> FloatArray:
    """``log M`` after each of a voter's votes, in the order cast (the sequential statistic).

    Parameters
    ----------
    a, b : array_like of int, shape (N,)
        The two models of each vote (any integer labels, e.g. database ids).
    p_a : array_like, shape (N,)
        The board's predicted score of side ``a`` (:func:`predicted_score`).
    score_a : array_like, shape (N,)
        What the voter gave side ``a``: 1 a win, 0.5 a tie (either kind), 0 a loss.
    """
    aa = np.asarray(a, dtype=np.int64)
    bb = np.asarray(b, dtype=np.int64)
    p = np.asarray(p_a, dtype=np.float64)
    y = np.asarray(score_a, dtype=np.float64)
    if not (p.ndim == 1 and p.shape == y.shape == aa.shape == bb.shape):
        raise ValueError("a, b, p_a and score_a need the same one-dimensional shape")
    if np.any((y < 0) | (y > 1)) or np.any((p < 0) | (p > 1)):
        raise ValueError("scores and predictions must lie in [0, 1]")
    flip = p < 0.5  # side a is the underdog
    pf = np.clip(np.where(flip, 1.0 - p, p), 0.5, 1.0 - _P_EDGE)
    shortfall = pf - np.where(flip, 1.0 - y, y)  # how much better the underdog did
    has_favourite = pf > 0.5
    largest = np.where(has_favourite, 1.0 / (1.0 - pf), 0.0)
    before_a, before_b = earlier_excess(aa, bb, y - p)
    backed = np.where(flip, before_a, before_b) > 0
    stakes = [
        (pf - 0.5) / (pf * (1.0 - pf)),
        STAKES["contrarian"] * largest,
        np.where(backed, STAKES["partisan"] * largest, 0.0),
    ]
    logs = np.stack([np.cumsum(np.log1p(stake * shortfall)) for stake in stakes])
    out: FloatArray = np.logaddexp.reduce(logs, axis=0) - math.log(len(stakes))
    return out


@dataclass(frozen=True)
class BoardEvidence:
    """``log_lr``: ``log M`` over all the votes (0 for none); ``votes``: how many it used."""

    log_lr: float
    votes: int

    def flagged(self, threshold: float) -> bool:
        return self.log_lr >= threshold


def board_evidence(
    a: npt.ArrayLike, b: npt.ArrayLike, p_a: npt.ArrayLike, score_a: npt.ArrayLike
) -> BoardEvidence:
    """The statistic of :func:`evidence_path` after the last vote."""
    path = evidence_path(a, b, p_a, score_a)
    return BoardEvidence(float(path[-1]) if path.size else 0.0, int(path.size))
