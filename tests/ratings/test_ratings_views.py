"""Online Elo, win-rate tables and pair sampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ratings.counts import aggregate
from ratings.elo import online_elo
from ratings.sampling import pair_probabilities
from ratings.winrates import battle_matrix, predicted_win_rates, win_rate_matrix, win_rates


def test_online_elo_by_hand() -> None:
    r = online_elo(2, [0], [1], [0], k=32)
    assert r == pytest.approx([1016.0, 984.0])
    r = online_elo(3, [0, 1], [1, 2], [0, 2], k=4)
    # second battle: 998 vs 1000 tie, expected 1/(1+10^(2/400))
    e = 1 / (1 + 10 ** (2 / 400))
    assert r[1] == pytest.approx(998 + 4 * (0.5 - e))
    assert r.sum() == pytest.approx(3000.0)


def test_online_elo_depends_on_order() -> None:
    a, b, o = [0, 0], [1, 1], [0, 1]
    assert not np.allclose(online_elo(2, a, b, o), online_elo(2, a, b, o[::-1]))


def test_win_rate_tables() -> None:
    counts = aggregate(["a", "b", "c"], [0, 0, 1, 0], [1, 1, 0, 2], [0, 2, 0, 1])
    wr = win_rate_matrix(counts)
    assert wr[0, 1] == pytest.approx(0.5)  # a: win + tie + loss -> 1.5 of 3
    assert wr[1, 0] == pytest.approx(0.5)
    assert wr[2, 0] == 1.0 and np.isnan(wr[1, 2])
    assert battle_matrix(counts)[0, 1] == 3
    pred = predicted_win_rates([0.0, np.log(3.0)])
    assert pred[1, 0] == pytest.approx(0.75)
    assert np.isnan(pred[0, 0])


def test_win_rates_count_ties_half() -> None:
    rates = win_rates([3, 0, 1], [1, 0, 0], [2, 0, 0])
    assert rates[0] == pytest.approx(4 / 6) and rates[2] == 1.0
    assert np.isnan(rates[1])  # never met


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(900, 1300), min_size=2, max_size=12),
    st.floats(0.0, 80.0),
    st.floats(0.01, 1.0),
)
def test_pair_probabilities_are_a_distribution(
    centres: list[float], width: float, floor: float
) -> None:
    c = np.array(centres)
    n = np.arange(c.size) * 100.0
    prob = pair_probabilities(c - width, c + width, n, floor=floor)
    m = c.size
    assert np.allclose(prob, prob.T)
    assert np.all(np.diag(prob) == 0)
    assert np.triu(prob, 1).sum() == pytest.approx(1.0)
    assert np.triu(prob + np.eye(m), 1).min() >= 0
    assert (prob + np.eye(m)).min() >= floor / (m * (m - 1) / 2) - 1e-12


def test_pair_probabilities_prefer_close_and_new_models() -> None:
    lo = np.array([1000.0, 1005.0, 1200.0, 1000.0])
    hi = lo + 20
    n = np.array([5000.0, 5000.0, 5000.0, 0.0])
    prob = pair_probabilities(lo, hi, n)
    assert prob[0, 1] > prob[0, 2]  # overlapping beats far apart
    assert prob[2, 3] > prob[1, 2]  # a new model gets more battles
    with pytest.raises(ValueError):
        pair_probabilities(lo, hi, n, floor=0)
