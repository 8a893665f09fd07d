"""Bradley-Terry fit: hand-solved cases, invariances, degenerate graphs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from ratings.bt import fit_bt, gradient, log_likelihood
from ratings.counts import OUTCOMES, PairCounts, aggregate, counts_from_rows
from ratings.errors import ConvergenceError, DisconnectedGraphError, UnboundedRatingsError
from ratings.leaderboard import ELO_PER_NAT, fit_counts

ELO = 400.0 / math.log(10.0)


def battles(*spec: tuple[int, int, int, int]) -> PairCounts:
    """Counts from ``(a, b, outcome, times)`` tuples over models m0, m1, ..."""
    a, b, o = [], [], []
    for x, y, out, times in spec:
        a += [x] * times
        b += [y] * times
        o += [out] * times
    m = max(max(a), max(b)) + 1
    return aggregate([f"m{k}" for k in range(m)], a, b, o)


def test_elo_constant() -> None:
    assert pytest.approx(ELO) == ELO_PER_NAT


def test_two_models_three_to_one() -> None:
    board = fit_counts(battles((0, 1, 0, 3), (0, 1, 1, 1)), ci="none")
    # theta_0 - theta_1 = ln 3, i.e. 400 log10 3 Elo, centred on 1000
    half = 200.0 * math.log10(3.0)
    assert board.rating == pytest.approx([1000.0 + half, 1000.0 - half], abs=1e-9)
    assert list(board.rank) == [1, 2]
    assert list(board.battles) == [4, 4]


def test_ties_count_half_a_win() -> None:
    # A: 2 wins + 2 ties -> 3 points; B: 1 win + 2 ties -> 2 points
    counts = battles((0, 1, 0, 2), (1, 0, 0, 1), (0, 1, 2, 1), (1, 0, 3, 1))
    fit = fit_bt(counts)
    assert fit.theta[0] - fit.theta[1] == pytest.approx(math.log(3.0 / 2.0), abs=1e-12)


def test_both_tie_kinds_are_equal() -> None:
    one = fit_counts(battles((0, 1, 0, 3), (0, 1, 2, 4), (1, 2, 0, 5), (1, 2, 1, 2)), ci="none")
    two = fit_counts(battles((0, 1, 0, 3), (0, 1, 3, 4), (1, 2, 0, 5), (1, 2, 1, 2)), ci="none")
    np.testing.assert_allclose(one.rating, two.rating, atol=1e-9)


def test_chain_is_solved_pair_by_pair() -> None:
    # A tree: each edge is fitted on its own, ln 2 apart.
    counts = battles((0, 1, 0, 2), (0, 1, 1, 1), (1, 2, 0, 2), (1, 2, 1, 1))
    fit = fit_bt(counts)
    np.testing.assert_allclose(fit.theta, [math.log(2), 0.0, -math.log(2)], atol=1e-12)


def test_cycle_is_a_three_way_tie() -> None:
    board = fit_counts(battles((0, 1, 0, 1), (1, 2, 0, 1), (2, 0, 0, 1)), ci="sandwich")
    np.testing.assert_allclose(board.rating, 1000.0, atol=1e-9)
    assert list(board.rank) == [1, 1, 1]
    assert list(board.rank_ub) == [1, 1, 1]


def test_swapping_sides_changes_nothing() -> None:
    rng = np.random.default_rng(3)
    m, n = 6, 400
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    o = rng.integers(0, 4, n)
    names = [f"m{k}" for k in range(m)]
    flipped = np.array([1, 0, 2, 3])[o]
    one = fit_counts(aggregate(names, a, b, o), ci="sandwich")
    two = fit_counts(aggregate(names, b, a, flipped), ci="sandwich")
    np.testing.assert_allclose(one.rating, two.rating, atol=1e-9)
    np.testing.assert_allclose(one.ci_low, two.ci_low, atol=1e-9)


def test_relabelling_models_permutes_ratings() -> None:
    rng = np.random.default_rng(4)
    m, n = 5, 300
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    o = rng.integers(0, 4, n)
    perm = rng.permutation(m)
    one = fit_bt(aggregate([f"m{k}" for k in range(m)], a, b, o)).theta
    two = fit_bt(aggregate([f"m{k}" for k in range(m)], perm[a], perm[b], o)).theta
    np.testing.assert_allclose(two[perm], one, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.integers(1, 4), st.integers(0, 3)), min_size=1, max_size=60
    ),
    st.randoms(use_true_random=False),
)
def test_battle_order_does_not_matter(raw: list[tuple[int, int, int]], rnd: object) -> None:
    rows = [(x, (x + d) % 5, o) for x, d, o in raw]
    # make the MLE exist: every model beats and loses to its neighbour once
    rows += [(k, (k + 1) % 5, 0) for k in range(5)] + [(k, (k + 1) % 5, 1) for k in range(5)]
    shuffled = list(rows)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    names = [f"m{k}" for k in range(5)]
    one = fit_bt(aggregate(names, *zip(*rows, strict=True))).theta
    two = fit_bt(aggregate(names, *zip(*shuffled, strict=True))).theta
    np.testing.assert_allclose(one, two, atol=1e-9)
    assert abs(one.sum()) < 1e-9


def test_matches_scipy_lbfgs_on_the_full_likelihood() -> None:
    rng = np.random.default_rng(5)
    m, n = 12, 5000
    truth = rng.normal(0, 1, m)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p = 1 / (1 + np.exp(-(truth[a] - truth[b])))
    o = np.where(rng.random(n) < 0.15, 2, np.where(rng.random(n) < p, 0, 1))
    counts = aggregate([f"m{k}" for k in range(m)], a, b, o)
    y = np.where(o == 0, 1.0, np.where(o == 1, 0.0, 0.5))

    def nll(t: np.ndarray) -> tuple[float, np.ndarray]:
        z = t[a] - t[b]
        q = 1 / (1 + np.exp(-z))
        g = np.bincount(a, q - y, m) - np.bincount(b, q - y, m)
        return float(np.sum(np.logaddexp(0, z) - y * z)), g

    ref = minimize(nll, np.zeros(m), jac=True, method="L-BFGS-B", options={"gtol": 1e-12})
    ref_theta = ref.x - ref.x.mean()
    fit = fit_bt(counts)
    np.testing.assert_allclose(fit.theta * ELO, ref_theta * ELO, atol=1e-3)
    assert log_likelihood(counts, fit.theta) >= -ref.fun - 1e-9
    assert np.abs(gradient(counts, fit.theta)).max() <= 1e-10 * n


def test_anchor_shifts_everything() -> None:
    counts = battles((0, 1, 0, 7), (0, 1, 1, 3), (1, 2, 0, 4), (1, 2, 1, 4), (0, 2, 2, 2))
    free = fit_counts(counts, ci="sandwich")
    anchored = fit_counts(counts, ci="sandwich", anchor=("m1", 1200.0))
    assert anchored.rating[1] == pytest.approx(1200.0)
    shift = anchored.rating - free.rating
    np.testing.assert_allclose(shift, shift[0], atol=1e-9)
    np.testing.assert_allclose(anchored.ci_high - anchored.ci_low, free.ci_high - free.ci_low)
    assert list(anchored.rank) == list(free.rank)


def test_disconnected_graph_names_components() -> None:
    counts = battles((0, 1, 0, 1), (0, 1, 1, 1), (2, 3, 0, 1), (3, 2, 0, 1), (3, 4, 2, 1))
    with pytest.raises(DisconnectedGraphError) as err:
        fit_bt(counts)
    assert err.value.components == [["m2", "m3", "m4"], ["m0", "m1"]]
    assert "{m2, m3, m4}; {m0, m1}" in str(err.value)


def test_unbeaten_model_has_no_finite_rating() -> None:
    counts = battles((0, 1, 0, 3), (1, 2, 0, 1), (2, 1, 0, 1))
    with pytest.raises(UnboundedRatingsError) as err:
        fit_bt(counts)
    assert err.value.undefeated == ["m0"]
    counts = battles((0, 1, 0, 3), (0, 1, 1, 1), (2, 1, 1, 2))
    with pytest.raises(UnboundedRatingsError) as err:
        fit_bt(counts)
    assert err.value.undefeated == ["m0", "m1"]
    assert err.value.rest == ["m2"]


def test_a_tie_is_enough_for_finite_ratings() -> None:
    fit = fit_bt(battles((0, 1, 0, 3), (0, 1, 2, 1)))
    assert fit.theta[0] - fit.theta[1] == pytest.approx(math.log(3.5 / 0.5))


def test_stalling_raises_convergence_error() -> None:
    counts = battles((0, 1, 0, 90), (0, 1, 1, 1), (1, 2, 0, 90), (1, 2, 1, 1))
    with pytest.raises(ConvergenceError, match="gradient tolerance"):
        fit_bt(counts, max_iter=1)


def test_counts_from_sql_rows_merge_orientations() -> None:
    counts = counts_from_rows(
        [("b", "a", "model_a", 2), ("a", "b", "model_a", 1), ("a", "b", "tie (bothbad)", 3)]
    )
    assert counts.models == ("a", "b")
    assert (counts.wins_i[0], counts.wins_j[0], counts.ties[0]) == (1.0, 2.0, 3.0)
    same = PairCounts.from_arrays(["a", "b"], [1, 0], [0, 1], [2, 1], [0, 0], [0, 3])
    assert (same.wins_i[0], same.wins_j[0], same.ties[0]) == (1.0, 2.0, 3.0)
    assert OUTCOMES[3] == "tie (bothbad)"
