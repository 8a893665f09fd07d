"""Properties of the Bradley-Terry engine: invariances, scale, monotonicity, ties, errors.

Boards for the value properties always have a finite MLE: the models sit on a random
cycle whose every edge has wins both ways (so the "scored against" graph is strongly
connected), and the other pairs met or not at random.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from ratings.bt import log_likelihood
from ratings.counts import PairCounts, aggregate
from ratings.errors import DisconnectedGraphError, RatingsInputError, UnboundedRatingsError
from ratings.leaderboard import INIT_RATING, Leaderboard, fit_counts
from tests.properties.support import props


@dataclass(frozen=True)
class Board:
    """``wins[i][j]``: battles ``i`` won against ``j``; ``ties[i][j]`` symmetric."""

    wins: tuple[tuple[int, ...], ...]
    ties: tuple[tuple[int, ...], ...]

    @property
    def m(self) -> int:
        return len(self.wins)

    def names(self) -> list[str]:
        return [f"model-{k}" for k in range(self.m)]

    def pairs(self) -> list[tuple[int, int]]:
        return list(itertools.combinations(range(self.m), 2))

    def counts(self, scale: float = 1.0, ties_as_half_wins: bool = False) -> PairCounts:
        pairs = self.pairs()
        wi = np.array([self.wins[i][j] for i, j in pairs], dtype=float)
        wj = np.array([self.wins[j][i] for i, j in pairs], dtype=float)
        t = np.array([self.ties[i][j] for i, j in pairs], dtype=float)
        if ties_as_half_wins:
            wi, wj, t = wi + t / 2, wj + t / 2, np.zeros_like(t)
        return PairCounts.from_arrays(
            self.names(),
            [i for i, _ in pairs],
            [j for _, j in pairs],
            scale * wi,
            scale * wj,
            scale * t,
        )

    def battles(self) -> list[tuple[int, int, int]]:
        """One ``(model_a, model_b, outcome)`` per battle, the winner always as ``model_a``."""
        out = []
        for i, j in self.pairs():
            out += [(i, j, 0)] * self.wins[i][j] + [(j, i, 0)] * self.wins[j][i]
            out += [(i, j, 2)] * self.ties[i][j]
        return out

    def with_win(self, i: int, j: int) -> Board:
        wins = [list(row) for row in self.wins]
        wins[i][j] += 1
        return Board(tuple(map(tuple, wins)), self.ties)


def _matrix(m: int, cells: dict[tuple[int, int], int]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(cells.get((i, j), 0) for j in range(m)) for i in range(m))


@st.composite
def boards(draw: st.DrawFn, min_models: int = 3, max_models: int = 8) -> Board:
    m = draw(st.integers(min_models, max_models))
    cycle = draw(st.permutations(range(m)))
    ring = {frozenset((cycle[k], cycle[(k + 1) % m])) for k in range(m)}
    wins: dict[tuple[int, int], int] = {}
    ties: dict[tuple[int, int], int] = {}
    for i, j in itertools.combinations(range(m), 2):
        on_ring = frozenset((i, j)) in ring
        if not on_ring and not draw(st.booleans()):
            continue
        low = 1 if on_ring else 0
        wins[i, j] = draw(st.integers(low, 12))
        wins[j, i] = draw(st.integers(low, 12))
        ties[i, j] = ties[j, i] = draw(st.integers(0, 6))
    return Board(_matrix(m, wins), _matrix(m, ties))


def by_name(board: Leaderboard) -> dict[str, tuple[float, float, float]]:
    return {
        name: (float(board.rating[k]), float(board.ci_low[k]), float(board.ci_high[k]))
        for k, name in enumerate(board.models)
    }


# Fixed boards: a three-model rock-paper-scissors cycle, and a lopsided one.
ROCK = Board(((0, 2, 1), (1, 0, 2), (2, 1, 0)), ((0, 1, 0), (1, 0, 0), (0, 0, 0)))
LOPSIDED = Board(((0, 12, 12), (1, 0, 12), (1, 1, 0)), ((0, 0, 0), (0, 0, 6), (0, 6, 0)))


@props(60)
@example(ROCK, 0)
@given(boards(), st.integers(0, 2**32 - 1))
def test_relabelling_and_reordering_leave_each_models_rating(board: Board, seed: int) -> None:
    rng = random.Random(seed)
    m = board.m
    perm = rng.sample(range(m), m)
    names = board.names()
    a, b, o = zip(*board.battles(), strict=True)
    plain = fit_counts(aggregate(names, a, b, o))
    # Model k becomes index perm[k]; battles are shuffled and half of them written the
    # other way round (b won, or a tie of the second kind).
    new_names = [""] * m
    for k, p in enumerate(perm):
        new_names[p] = names[k]
    moved = []
    for x, y, out in board.battles():
        if rng.random() < 0.5:
            x, y, out = y, x, {0: 1, 2: 3}[out]
        moved.append((perm[x], perm[y], out))
    rng.shuffle(moved)
    a2, b2, o2 = zip(*moved, strict=True)
    relabelled = fit_counts(aggregate(new_names, a2, b2, o2))
    left, right = by_name(plain), by_name(relabelled)
    assert left.keys() == right.keys()
    for name in left:
        assert right[name] == pytest.approx(left[name], abs=1e-6), name
    ranks = {r["model"]: (r["rank"], r["rank_ub"], r["battles"]) for r in plain.rows()}
    assert ranks == {r["model"]: (r["rank"], r["rank_ub"], r["battles"]) for r in relabelled.rows()}


@props(60)
@given(boards(), st.integers(0, 7), st.floats(-5000, 5000, allow_nan=False))
def test_mean_1000_and_anchoring_shifts_everything_alike(
    board: Board, which: int, value: float
) -> None:
    counts = board.counts()
    plain = fit_counts(counts)
    assert float(np.mean(plain.rating)) == pytest.approx(INIT_RATING, abs=1e-9)
    assert float(np.sum(plain.theta)) == pytest.approx(0.0, abs=1e-9)
    name = counts.models[which % board.m]
    anchored = fit_counts(counts, anchor=(name, value))
    k = counts.models.index(name)
    assert anchored.rating[k] == pytest.approx(value, abs=1e-9)
    shift = value - plain.rating[k]
    np.testing.assert_allclose(anchored.rating, plain.rating + shift, rtol=0, atol=1e-8)
    np.testing.assert_allclose(anchored.ci_low, plain.ci_low + shift, rtol=0, atol=1e-8)
    np.testing.assert_allclose(anchored.ci_high, plain.ci_high + shift, rtol=0, atol=1e-8)
    assert list(anchored.rank) == list(plain.rank)
    assert list(anchored.rank_ub) == list(plain.rank_ub)


@props(60)
@given(boards(), st.integers(2, 50))
def test_scaling_counts_keeps_the_mle_and_shrinks_sandwich_by_sqrt_k(board: Board, k: int) -> None:
    one = fit_counts(board.counts())
    many = fit_counts(board.counts(scale=k))
    np.testing.assert_allclose(many.rating, one.rating, rtol=0, atol=1e-7)
    width_one = one.ci_high - one.ci_low
    width_many = many.ci_high - many.ci_low
    np.testing.assert_allclose(width_many * math.sqrt(k), width_one, rtol=1e-6)


@props(80)
@example(LOPSIDED, 2, 0)
@given(boards(), st.integers(0, 7), st.integers(1, 7))
def test_a_new_win_never_lowers_the_winner_nor_raises_the_loser(
    board: Board, winner: int, offset: int
) -> None:
    i = winner % board.m
    j = (i + 1 + offset % (board.m - 1)) % board.m
    before = fit_counts(board.counts(), ci="none").rating
    after = fit_counts(board.with_win(i, j).counts(), ci="none").rating
    assert after[i] >= before[i] - 1e-9
    assert after[j] <= before[j] + 1e-9
    assert after[i] - after[j] > before[i] - before[j]


@props(60)
@given(boards(), st.lists(st.floats(-3, 3, allow_nan=False), min_size=8, max_size=8))
def test_a_tie_is_half_a_win_each(board: Board, point: list[float]) -> None:
    counts = board.counts()
    halves = board.counts(ties_as_half_wins=True)
    # The same likelihood everywhere, not only at the optimum.
    theta = np.array(point[: board.m])
    assert log_likelihood(counts, theta) == pytest.approx(log_likelihood(halves, theta), abs=1e-9)
    np.testing.assert_allclose(
        fit_counts(counts, ci="none").rating,
        fit_counts(halves, ci="none").rating,
        rtol=0,
        atol=1e-8,
    )
    # Both tie kinds land in the same pair cell.
    a, b, o = zip(*board.battles(), strict=True)
    kind2 = aggregate(board.names(), a, b, o)
    kind3 = aggregate(board.names(), a, b, [3 if x == 2 else x for x in o])
    for field in ("i", "j", "wins_i", "wins_j", "ties"):
        np.testing.assert_array_equal(getattr(kind2, field), getattr(kind3, field))


# --- when ratings do not exist ------------------------------------------------------------


@st.composite
def sparse_counts(draw: st.DrawFn) -> PairCounts:
    m = draw(st.integers(2, 6))
    cell = st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 2))
    # Boards are free, or split in two groups that never meet, or tiered: models of
    # tier 0 never lose nor tie against those of tier 1.
    mode = draw(st.sampled_from(["free", "split", "tiers"]))
    group = [draw(st.integers(0, 1)) if mode != "free" else 0 for _ in range(m)]
    pairs = list(itertools.combinations(range(m), 2))
    cells = []
    for i, j in pairs:
        wi, wj, t = draw(cell)
        if mode == "split" and group[i] != group[j]:
            wi = wj = t = 0
        elif mode == "tiers" and group[i] != group[j]:
            t = 0
            wi, wj = (wi, 0) if group[i] < group[j] else (0, wj)
        cells.append((wi, wj, t))
    return PairCounts.from_arrays(
        [f"model-{k}" for k in range(m)],
        [i for i, _ in pairs],
        [j for _, j in pairs],
        [c[0] for c in cells],
        [c[1] for c in cells],
        [c[2] for c in cells],
    )


def _closure(m: int, edges: set[tuple[int, int]]) -> list[list[bool]]:
    reach = [[x == y or (x, y) in edges for y in range(m)] for x in range(m)]
    for k in range(m):
        for x in range(m):
            if reach[x][k]:
                for y in range(m):
                    reach[x][y] = reach[x][y] or reach[k][y]
    return reach


def _expected_failure(counts: PairCounts) -> str | None:
    """Plain-Python oracle: None when the MLE exists, else which failure."""
    m = counts.n_models
    scored: set[tuple[int, int]] = set()  # x scored (won or tied) against y
    met: set[tuple[int, int]] = set()
    for i, j, wi, wj, t in zip(
        counts.i, counts.j, counts.wins_i, counts.wins_j, counts.ties, strict=True
    ):
        i, j = int(i), int(j)
        if wi + wj + t > 0:
            met |= {(i, j), (j, i)}
        if wi + t > 0:
            scored.add((i, j))
        if wj + t > 0:
            scored.add((j, i))
    played = {x for x, _ in met}
    if len(played) < m:
        return "idle"
    if not all(_closure(m, met)[0]):
        return "disconnected"
    if not all(all(row) for row in _closure(m, scored)):
        return "unbounded"
    return None


def _components(counts: PairCounts) -> set[frozenset[str]]:
    m = counts.n_models
    met = {(int(i), int(j)) for i, j, n in zip(counts.i, counts.j, counts.n, strict=True) if n > 0}
    reach = _closure(m, met | {(j, i) for i, j in met})
    return {frozenset(counts.models[y] for y in range(m) if reach[x][y]) for x in range(m)}


@props(150)
@example(  # two models each beat the other pair, never the reverse: a group unbeaten
    PairCounts.from_arrays(
        ["a", "b", "c", "d"],
        [0, 0, 0, 1, 1, 2],
        [1, 2, 3, 2, 3, 3],
        [1, 1, 1, 1, 1, 1],
        [1, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0],
    )
)
@given(sparse_counts())
def test_named_errors_exactly_when_the_mle_does_not_exist(counts: PairCounts) -> None:
    expected = _expected_failure(counts)
    event(expected or "exists")
    if expected is None:
        board = fit_counts(counts, ci="none")
        assert np.all(np.isfinite(board.rating))
        return
    with pytest.raises(RatingsInputError) as caught:
        fit_counts(counts, ci="none")
    err = caught.value
    if expected == "idle":
        assert not isinstance(err, UnboundedRatingsError)
    elif expected == "disconnected":
        assert isinstance(err, DisconnectedGraphError)
        assert {frozenset(c) for c in err.components} == _components(counts)
    else:
        assert isinstance(err, UnboundedRatingsError)
        assert err.undefeated and err.rest
        assert sorted(err.undefeated + err.rest) == sorted(counts.models)
        names = counts.models
        for i, j, wi, wj, t in zip(
            counts.i, counts.j, counts.wins_i, counts.wins_j, counts.ties, strict=True
        ):
            a, b = names[int(i)], names[int(j)]
            # nobody in ``rest`` ever scored against anyone in ``undefeated``
            if a in err.rest and b in err.undefeated:
                assert wi + t == 0
            if b in err.rest and a in err.undefeated:
                assert wj + t == 0


@props(100)
@given(sparse_counts())
def test_a_model_that_never_lost_or_never_won_has_no_rating(counts: PairCounts) -> None:
    if _expected_failure(counts) in ("idle", "disconnected"):
        return
    m = counts.n_models
    scored_for = np.zeros(m)
    scored_against = np.zeros(m)
    for i, j, wi, wj, t in zip(
        counts.i, counts.j, counts.wins_i, counts.wins_j, counts.ties, strict=True
    ):
        scored_for[i] += wi + t
        scored_for[j] += wj + t
        scored_against[i] += wj + t
        scored_against[j] += wi + t
    if np.all(scored_for > 0) and np.all(scored_against > 0):
        return
    with pytest.raises(UnboundedRatingsError):
        fit_counts(counts, ci="none")
