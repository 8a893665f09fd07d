"""The board test: hand-computed factors, fairness to agreeing voters, the Ville bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ratings.outliers import (
    STAKES,
    board_evidence,
    earlier_excess,
    evidence_path,
    predicted_score,
)

THRESHOLD = math.log(1e4)


def test_predicted_score_is_the_elo_logistic_shrunk_by_the_intervals() -> None:
    assert predicted_score(1400.0, 1000.0)[()] == pytest.approx(10 / 11)
    assert predicted_score(1000.0, 1400.0)[()] == pytest.approx(1 / 11)
    # the gap shrinks by both half-widths; inside them it is a coin flip
    assert predicted_score(1450.0, 1000.0, 30.0, 20.0)[()] == pytest.approx(10 / 11)
    assert predicted_score(1040.0, 1000.0, 30.0, 20.0)[()] == 0.5
    assert predicted_score([1000.0], [1000.0]).tolist() == [0.5]


def test_one_upset_then_a_second_by_hand() -> None:
    # p_f = 0.8, the underdog (side b) wins twice. Random: 1/2 / 0.2 = 2.5 per vote;
    # contrarian: 1 + 0.5 / 0.2 * 0.8 = 3; partisan: nothing on the first vote (the
    # underdog was never backed), then 1 + 0.7 / 0.2 * 0.8 = 3.8.
    path = evidence_path([0, 0], [1, 1], [0.8, 0.8], [0.0, 0.0])
    assert STAKES == {"contrarian": 0.5, "partisan": 0.7}
    assert path[0] == pytest.approx(math.log((2.5 + 3 + 1) / 3))
    assert path[1] == pytest.approx(math.log((2.5**2 + 3**2 + 3.8) / 3))


def test_a_tie_is_half_a_win() -> None:
    # shortfall 0.8 - 0.5 = 0.3: random 1 + 0.3/0.16 * 0.3, contrarian 1 + 2.5 * 0.3
    path = evidence_path([0], [1], [0.8], [0.5])
    assert path[0] == pytest.approx(math.log((1 + 0.3 / 0.16 * 0.3 + 1.75 + 1) / 3))


def test_sides_do_not_matter() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 5, 40)
    b = (a + rng.integers(1, 5, 40)) % 5
    p = rng.uniform(0.05, 0.95, 40)
    y = rng.choice([0.0, 0.5, 1.0], 40)
    np.testing.assert_allclose(evidence_path(a, b, p, y), evidence_path(b, a, 1 - p, 1 - y))


def test_every_bet_is_fair_under_the_board() -> None:
    # Expected factor 1 for each bet whatever the voter backed before: the statistic of one
    # more vote, averaged over the board's outcome, equals the statistic before it.
    past = ([0, 0, 2], [1, 2, 1], [0.3, 0.7, 0.6], [1.0, 0.0, 0.5])
    before = math.exp(evidence_path(*past)[-1])

    def after(a: int, b: int, p: float, y: float) -> float:
        more = [[*col, x] for col, x in zip(past, (a, b, p, y), strict=True)]
        return math.exp(evidence_path(*more)[-1])

    for a, b, p in ((0, 1, 0.3), (1, 2, 0.9), (2, 0, 0.55), (0, 1, 0.5)):
        decisive = p * after(a, b, p, 1.0) + (1 - p) * after(a, b, p, 0.0)
        assert decisive == pytest.approx(before, rel=1e-12)
        # a tie half the time, the rest decided so that the expected score is still p
        t = min(p, 1 - p)
        tied = t * after(a, b, p, 0.5) + (p - t / 2) * after(a, b, p, 1.0)
        tied += (1 - p - t / 2) * after(a, b, p, 0.0)
        assert tied == pytest.approx(before, rel=1e-12)


def test_agreeing_with_the_board_never_raises_the_statistic() -> None:
    rng = np.random.default_rng(2)
    a = rng.integers(0, 8, 500)
    b = (a + rng.integers(1, 8, 500)) % 8
    p = rng.uniform(0.01, 0.99, 500)
    always_favourite = (p >= 0.5).astype(np.float64)
    path = evidence_path(a, b, p, always_favourite)
    assert np.all(np.diff(path) <= 1e-12) and path[0] <= 0.0
    assert board_evidence(a, b, p, always_favourite).flagged(THRESHOLD) is False


def simulate_board(rng: np.random.Generator, m: int = 60) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(1100.0, 100.0, m), np.full(m, 12.0)


def test_honest_voters_stay_far_below_the_threshold() -> None:
    rng = np.random.default_rng(3)
    rating, half = simulate_board(rng)
    truth = rating + rng.uniform(-12.0, 12.0, rating.size)  # inside the intervals
    worst = -np.inf
    for _ in range(2000):
        n = int(rng.integers(1, 51))
        a = rng.integers(0, rating.size, n)
        b = (a + rng.integers(1, rating.size, n)) % rating.size
        p_true = predicted_score(truth[a], truth[b])
        # ties where the pair is close, drawn so that the expected score stays p_true
        tie = rng.random(n) < 0.6 * np.minimum(p_true, 1 - p_true)
        win = rng.random(n) < (p_true - 0.3 * np.minimum(p_true, 1 - p_true)) / (
            1 - 0.6 * np.minimum(p_true, 1 - p_true)
        )
        y = np.where(tie, 0.5, win.astype(np.float64))
        worst = max(
            worst,
            float(
                evidence_path(
                    a, b, predicted_score(rating[a], rating[b], half[a], half[b]), y
                ).max()
            ),
        )
    assert worst < THRESHOLD - 3


def test_contrarian_and_partisan_voters_are_flagged() -> None:
    rng = np.random.default_rng(4)
    rating, half = simulate_board(rng)
    a = rng.integers(0, rating.size, 50)
    b = (a + rng.integers(1, rating.size, 50)) % rating.size
    p = predicted_score(rating[a], rating[b], half[a], half[b])
    contrarian = board_evidence(a, b, p, (p < 0.5).astype(np.float64))
    assert contrarian.flagged(THRESHOLD) and contrarian.votes == 50
    # a client who votes for the weakest model in every battle it is in
    weakest = int(np.argmin(rating))
    others = np.delete(np.arange(rating.size), weakest)[rng.integers(0, rating.size - 1, 50)]
    p = predicted_score(rating[weakest], rating[others], half[weakest], half[others])
    partisan = evidence_path(np.full(50, weakest), others, p, np.ones(50))
    assert partisan[-1] >= THRESHOLD
    assert int(np.argmax(partisan >= THRESHOLD)) < 20


def test_earlier_excess_by_hand() -> None:
    # votes: (0 vs 1, 0 scored +0.5 over the board), (1 vs 0, 1 scored -0.2), (0 vs 2, +0.1)
    before_a, before_b = earlier_excess(
        np.array([0, 1, 0]), np.array([1, 0, 2]), np.array([0.5, -0.2, 0.1])
    )
    np.testing.assert_allclose(before_a, [0.0, -0.5, 0.5 + 0.2])
    np.testing.assert_allclose(before_b, [0.0, 0.5, 0.0])


def test_no_votes_and_bad_input() -> None:
    assert board_evidence([], [], [], []).log_lr == 0.0
    with pytest.raises(ValueError, match="same one-dimensional shape"):
        evidence_path([0], [1], [0.5, 0.5], [1.0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        evidence_path([0], [1], [0.5], [2.0])
