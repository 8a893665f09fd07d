"""Checks that Bradley-Terry ratings exist for a set of pair counts.

The MLE exists and is unique (up to a shift) exactly when the directed graph
"i scored against j" (a win or a tie) is strongly connected (Zermelo 1929, Ford 1957).
Both checks are reachability sweeps over the pair arrays, so they stay cheap and
avoid importing SciPy on the common path.
"""

from __future__ import annotations

import numpy as np

from ratings.counts import PairCounts
from ratings.errors import DisconnectedGraphError, RatingsInputError, UnboundedRatingsError
from ratings.types import BoolArray, IntArray

__all__ = ["check_ratings_exist", "components"]


def _reach(n: int, src: IntArray, dst: IntArray, start: int) -> BoolArray:
    seen = np.zeros(n, dtype=bool)
    seen[start] = True
    while True:
        step = seen[src] & ~seen[dst]
        if not step.any():
            return seen
        seen[dst[step]] = True


def components(n: int, i: IntArray, j: IntArray) -> list[list[int]]:
    """Connected components of the undirected graph on ``n`` nodes, largest first."""
    src = np.concatenate([i, j])
    dst = np.concatenate([j, i])
    label = np.full(n, -1, dtype=np.int64)
    parts: list[list[int]] = []
    for node in range(n):
        if label[node] >= 0:
            continue
        members = np.flatnonzero(_reach(n, src, dst, node))
        label[members] = len(parts)
        parts.append(members.tolist())
    return sorted(parts, key=lambda p: (-len(p), p[0]))


def check_ratings_exist(counts: PairCounts) -> None:
    """Raise unless the maximum-likelihood ratings are finite and unique.

    Raises
    ------
    RatingsInputError
        No battles at all.
    DisconnectedGraphError
        Some models never met the others, directly or through a chain.
    UnboundedRatingsError
        Some models won (or lost) every battle against the rest.
    """
    m = counts.n_models
    met = counts.n > 0
    if m == 0 or not met.any():
        raise RatingsInputError("no battles to rate")
    played = np.zeros(m, dtype=bool)
    played[counts.i[met]] = True
    played[counts.j[met]] = True
    if not played.all():
        idle = [counts.models[k] for k in np.flatnonzero(~played)]
        raise RatingsInputError("models without battles: " + ", ".join(idle))
    if m == 1:
        return
    i, j = counts.i[met], counts.j[met]
    if not _reach(m, np.concatenate([i, j]), np.concatenate([j, i]), 0).all():
        parts = components(m, i, j)
        raise DisconnectedGraphError([[counts.models[k] for k in p] for p in parts])
    # edge x -> y when x scored against y
    i_scored = (counts.wins_i + counts.ties)[met] > 0
    j_scored = (counts.wins_j + counts.ties)[met] > 0
    src = np.concatenate([i[i_scored], j[j_scored]])
    dst = np.concatenate([j[i_scored], i[j_scored]])
    forward = _reach(m, src, dst, 0)
    backward = _reach(m, dst, src, 0)
    if forward.all() and backward.all():
        return
    # Nobody in reach(0) scored against the models outside it: those won every
    # battle with the rest. If model 0 reaches everyone, the models that cannot
    # reach model 0 lost every battle against the ones that can.
    undefeated = ~forward if not forward.all() else backward
    raise UnboundedRatingsError(
        [counts.models[k] for k in np.flatnonzero(undefeated)],
        [counts.models[k] for k in np.flatnonzero(~undefeated)],
    )
