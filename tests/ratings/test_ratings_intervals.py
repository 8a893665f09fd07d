"""Sandwich and bootstrap intervals, ranks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ratings.bt import fit_bt
from ratings.counts import PairCounts, aggregate
from ratings.intervals import bootstrap, multinomial_cells, sandwich_cov
from ratings.leaderboard import ELO_PER_NAT, fit_counts
from ratings.ranks import rank, rank_upper_bound

Z95 = 1.959963984540054


def simulate(seed: int, m: int = 8, n: int = 3000) -> tuple[PairCounts, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.linspace(-1.0, 1.0, m)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p = 1 / (1 + np.exp(-(truth[a] - truth[b])))
    # 20% ties; the rest decided so that the expected score is p, as the model says
    win = (p - 0.1) / 0.8
    o = np.where(rng.random(n) < 0.2, 2, np.where(rng.random(n) < win, 0, 1))
    return aggregate([f"m{k}" for k in range(m)], a, b, o), truth - truth.mean()


def test_sandwich_two_models_by_hand() -> None:
    # var(theta_0) = 1 / (4 n p q) with p = 30/40
    counts = aggregate(["a", "b"], [0] * 40, [1] * 40, [0] * 30 + [1] * 10)
    board = fit_counts(counts, ci="sandwich")
    half = Z95 * math.sqrt(1.0 / (4 * 40 * 0.75 * 0.25)) * ELO_PER_NAT
    assert board.ci_high[0] - board.rating[0] == pytest.approx(half, rel=1e-9)
    assert board.rating[0] - board.ci_low[0] == pytest.approx(half, rel=1e-9)


def test_sandwich_matches_per_battle_formula() -> None:
    counts, _ = simulate(1, m=5, n=600)
    theta = fit_bt(counts).theta
    m = counts.n_models
    h = np.zeros((m, m))
    g = np.zeros((m, m))
    for k in range(counts.i.size):
        d = np.zeros(m)
        d[counts.i[k]], d[counts.j[k]] = 1.0, -1.0
        p = 1 / (1 + math.exp(-(theta[counts.i[k]] - theta[counts.j[k]])))
        for y, c in ((1.0, counts.wins_i[k]), (0.0, counts.wins_j[k]), (0.5, counts.ties[k])):
            h += c * p * (1 - p) * np.outer(d, d)
            g += c * (y - p) ** 2 * np.outer(d, d)
    hp = np.linalg.pinv(h)
    np.testing.assert_allclose(sandwich_cov(counts, theta), hp @ g @ hp, atol=1e-12)


def test_sandwich_coverage_near_nominal() -> None:
    hits = []
    for seed in range(150):
        counts, truth = simulate(seed)
        board = fit_counts(counts, ci="sandwich")
        t = truth * ELO_PER_NAT + 1000.0
        hits.append((board.ci_low <= t) & (t <= board.ci_high))
    coverage = float(np.mean(hits))
    assert 0.92 <= coverage <= 0.975, coverage


def test_bootstrap_coverage_near_nominal() -> None:
    hits = []
    for seed in range(40):
        counts, truth = simulate(seed, m=6, n=2000)
        board = fit_counts(counts, ci="bootstrap", rounds=200, seed=seed)
        t = truth * ELO_PER_NAT + 1000.0
        hits.append((board.ci_low <= t) & (t <= board.ci_high))
    coverage = float(np.mean(hits))
    assert 0.9 <= coverage <= 0.985, coverage


def test_bootstrap_is_reproducible_and_fully_converged() -> None:
    counts, _ = simulate(7)
    theta = fit_bt(counts).theta
    one = bootstrap(counts, theta, 120, seed=11)
    two = bootstrap(counts, theta, 120, seed=11, threads=1)
    np.testing.assert_array_equal(one.thetas, two.thetas)
    assert one.dropped == 0
    # every round is an exact MLE of its resample: refit one from scratch
    rng = np.random.default_rng(np.random.SeedSequence(11).spawn(3)[0])
    cells = np.stack([counts.wins_i, counts.wins_j, counts.ties], axis=1).ravel()
    draw = multinomial_cells(rng, cells, 50)[0].reshape(-1, 3)
    resample = PairCounts(
        counts.models, counts.i, counts.j, draw[:, 0] * 1.0, draw[:, 1] * 1.0, draw[:, 2] * 1.0
    )
    np.testing.assert_allclose(one.thetas[0], fit_bt(resample).theta, atol=1e-9)
    other = bootstrap(counts, theta, 120, seed=12)
    assert not np.array_equal(one.thetas, other.thetas)


def test_bootstrap_drops_rounds_without_finite_ratings() -> None:
    # m2 lost once in 2 battles against m1; a resample can leave it unbeaten.
    a = [0] * 30 + [1] * 2
    b = [1] * 30 + [2] * 2
    o = [0] * 15 + [1] * 15 + [0, 1]
    counts = aggregate(["m0", "m1", "m2"], a, b, o)
    theta = fit_bt(counts).theta
    boot = bootstrap(counts, theta, 200, seed=0)
    assert boot.dropped > 0
    assert boot.thetas.shape == (200 - boot.dropped, 3)
    assert np.isfinite(boot.thetas).all()


def test_bootstrap_ratings_keep_point_estimate() -> None:
    counts, _ = simulate(2)
    sandwich = fit_counts(counts, ci="sandwich")
    boot = fit_counts(counts, ci="bootstrap", rounds=300, seed=1)
    np.testing.assert_allclose(boot.rating, sandwich.rating)
    width_s = sandwich.ci_high - sandwich.ci_low
    width_b = boot.ci_high - boot.ci_low
    np.testing.assert_allclose(width_b, width_s, rtol=0.25)
    assert boot.params["rounds"] == 300 and boot.params["seed"] == 1


def test_rank_rules() -> None:
    r = np.array([1100.0, 1050.0, 1050.0, 900.0])
    assert list(rank(r)) == [1, 2, 2, 4]
    lo = np.array([1080.0, 1000.0, 1040.0, 850.0])
    hi = np.array([1120.0, 1100.0, 1060.0, 950.0])
    # model 2's upper bound 1060 < model 0's lower 1080: one model surely above it
    assert list(rank_upper_bound(lo, hi)) == [1, 1, 2, 4]


def test_rows_are_sorted_and_complete() -> None:
    counts, _ = simulate(3)
    rows = fit_counts(counts, ci="none").rows()
    assert [row["rank"] for row in rows] == sorted(row["rank"] for row in rows)  # type: ignore[type-var]
    assert set(rows[0]) == {"model", "rating", "ci_low", "ci_high", "rank", "rank_ub", "battles"}
    assert rows[0]["ci_low"] is None
    assert sum(row["battles"] for row in rows) == 2 * 3000  # type: ignore[misc]
