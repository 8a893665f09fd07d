"""The prior: P virtual ties of every model against the mean, where the MLE does not exist."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq

from ratings.bt import (
    fit_bt,
    gradient,
    objective,
    penalized_hessian,
    prior_gradient,
    sigmoid,
)
from ratings.counts import PairCounts, aggregate
from ratings.errors import DisconnectedGraphError, RatingsInputError, UnboundedRatingsError
from ratings.fit import fit_battles_style, fit_file, fit_file_leaderboard
from ratings.intervals import bootstrap, sandwich_cov
from ratings.leaderboard import ELO_PER_NAT, INIT_RATING, fit_counts

Z95 = 1.959963984540054


def simulated(seed: int = 3, m: int = 8, n: int = 400) -> PairCounts:
    rng = np.random.default_rng(seed)
    truth = np.linspace(-1.5, 1.5, m)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p = 1 / (1 + np.exp(-(truth[a] - truth[b])))
    o = np.where(rng.random(n) < p, 0, 1)
    return aggregate([f"m{k}" for k in range(m)], a, b, o)


def one_vote() -> PairCounts:
    return aggregate(["a", "b"], [0], [1], [0])


def test_single_vote_matches_the_hand_solved_optimum() -> None:
    # theta = (x, -x): d/dx [log s(2x) + P (log s(x) + log s(-x))] = 0
    for prior in (0.1, 1.0, 4.0):
        x = brentq(lambda v, p=prior: 2 * (1 - sigmoid(2 * v)) + p * (1 - 2 * sigmoid(v)), 0, 50)
        board = fit_counts(one_vote(), prior=prior, ci="none")
        assert board.rating == pytest.approx(
            [INIT_RATING + ELO_PER_NAT * x, INIT_RATING - ELO_PER_NAT * x], abs=1e-6
        )
        assert list(board.rank) == [1, 2]
        assert board.params["prior"] == prior


def test_without_a_prior_the_single_vote_still_names_the_cause() -> None:
    with pytest.raises(UnboundedRatingsError, match=r"\{a\} never lost"):
        fit_counts(one_vote())


def test_tiny_prior_equals_the_mle() -> None:
    counts = simulated()
    mle = fit_counts(counts, ci="sandwich")
    near = fit_counts(counts, ci="sandwich", prior=1e-6)
    np.testing.assert_allclose(near.rating, mle.rating, atol=1e-3)
    np.testing.assert_allclose(near.ci_low, mle.ci_low, atol=1e-3)
    assert "prior" not in mle.params


def test_ratings_shrink_monotonically_toward_the_mean() -> None:
    counts = simulated()
    mle = fit_counts(counts, ci="none").rating - INIT_RATING
    previous = np.abs(mle)
    for prior in (0.01, 0.1, 1.0, 3.0, 10.0, 30.0, 100.0):
        spread = np.abs(fit_counts(counts, ci="none", prior=prior).rating - INIT_RATING)
        assert np.all(spread < previous), prior
        previous = spread
    # the order of the board is the MLE's throughout
    strong = fit_counts(counts, ci="none", prior=100.0).rating
    assert list(np.argsort(strong)) == list(np.argsort(mle))


def test_disconnected_and_unbeaten_boards_get_finite_ratings() -> None:
    # m0 beat m1; m2 beat m3 twice; m3 tied m4: three reasons the MLE fails
    counts = aggregate([f"m{k}" for k in range(5)], [0, 2, 2, 3], [1, 3, 3, 4], [0, 0, 0, 2])
    with pytest.raises(DisconnectedGraphError):
        fit_counts(counts)
    board = fit_counts(counts, prior=1.0)
    assert np.all(np.isfinite(board.rating)) and np.all(np.isfinite(board.ci_high))
    r = board.rating
    assert r[0] > r[1] and r[2] > r[3] and r[2] > r[4]
    assert board.rating.mean() == pytest.approx(INIT_RATING)
    # identical sub-boards rate identically whichever component they are in
    twin = fit_counts(aggregate(["a", "b", "c", "d"], [0, 2], [1, 3], [0, 0]), prior=1.0)
    assert twin.rating[0] == pytest.approx(twin.rating[2], abs=1e-9)


def test_gradient_and_hessian_are_the_objective_derivatives() -> None:
    counts = aggregate(["a", "b", "c"], [0, 0, 1], [1, 2, 2], [0, 0, 2])
    prior, eps = 0.7, 1e-5
    theta = np.array([0.4, -0.1, -0.3])
    basis = np.eye(3) - 1.0 / 3  # moves that keep the mean at zero

    def grad(t: np.ndarray) -> np.ndarray:
        out: np.ndarray = gradient(counts, t) + prior_gradient(t, prior)
        return out

    def value(t: np.ndarray) -> float:
        return objective(counts, t, prior)

    fd = [(value(theta + eps * e) - value(theta - eps * e)) / (2 * eps) for e in basis]
    np.testing.assert_allclose(fd, basis @ grad(theta), atol=1e-8)
    fd2 = [(grad(theta + eps * e) - grad(theta - eps * e)) / (2 * eps) for e in basis]
    np.testing.assert_allclose(
        -np.array(fd2), basis @ penalized_hessian(counts, theta, prior), atol=1e-7
    )


def test_sandwich_puts_the_prior_in_the_bread_only() -> None:
    # theta = (x, -x). In x: objective 5 log s(2x) + P (log s(x) + log s(-x)), so the
    # bread is 4 n p q + 2 P p0 q0 while the meat is the real scores only, 4 n (1 - p)^2.
    n, prior = 5, 2.0
    counts = aggregate(["a", "b"], [0] * n, [1] * n, [0] * n)
    theta = fit_bt(counts, prior=prior).theta
    p, p0 = float(sigmoid(np.array(2 * theta[0]))), float(sigmoid(np.array(theta[0])))
    bread = 4 * n * p * (1 - p) + 2 * prior * p0 * (1 - p0)
    var_x = 4 * n * (1 - p) ** 2 / bread**2
    cov = sandwich_cov(counts, theta, prior=prior)
    assert cov[0, 0] == pytest.approx(var_x, rel=1e-9)
    board = fit_counts(counts, prior=prior)
    assert board.ci_high[0] - board.rating[0] == pytest.approx(
        Z95 * math.sqrt(var_x) * ELO_PER_NAT, rel=1e-9
    )


def test_bootstrap_resamples_real_battles_and_keeps_the_prior() -> None:
    # A single vote resamples to itself: every round is the prior's fit, none dropped.
    counts = one_vote()
    theta = fit_bt(counts, prior=1.0).theta
    boot = bootstrap(counts, theta, 120, seed=4, prior=1.0)
    assert boot.dropped == 0 and boot.thetas.shape == (120, 2)
    np.testing.assert_allclose(boot.thetas, np.repeat(theta[None], 120, axis=0), atol=1e-9)
    # An unbeaten model drops rounds without a prior and none with one.
    counts = aggregate(["a", "b", "c"], [0] * 6 + [1] * 4, [1] * 6 + [2] * 4, [0] * 6 + [0, 1] * 2)
    board = fit_counts(counts, prior=0.5, ci="bootstrap", rounds=200, seed=1)
    assert board.params["dropped_rounds"] == 0 and board.params["prior"] == 0.5
    assert np.all(board.ci_low <= board.rating + 1e-9) and np.all(board.ci_high >= board.rating)
    again = fit_counts(counts, prior=0.5, ci="bootstrap", rounds=200, seed=1)
    np.testing.assert_array_equal(board.ci_low, again.ci_low)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_prior_must_be_positive(bad: float) -> None:
    with pytest.raises(RatingsInputError, match="prior must be a number > 0"):
        fit_counts(one_vote(), prior=bad)


def test_no_battles_is_still_an_error_with_a_prior() -> None:
    empty = PairCounts.from_arrays(["a", "b"], [], [], [], [], [])
    with pytest.raises(RatingsInputError, match="no battles"):
        fit_counts(empty, prior=1.0)


def test_style_fit_takes_the_prior() -> None:
    rng = np.random.default_rng(2)
    n, m = 300, 4
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    o = np.where(rng.random(n) < 1 / (1 + np.exp(-(a - b) * 0.5)), 0, 1)
    fa, fb = rng.integers(10, 500, (n, 4)), rng.integers(10, 500, (n, 4))
    names = [f"m{k}" for k in range(m)]
    plain = fit_battles_style(names, a, b, o, fa, fb)
    near = fit_battles_style(names, a, b, o, fa, fb, prior=1e-6)
    np.testing.assert_allclose(near.rating, plain.rating, atol=1e-3)
    assert near.params["prior"] == 1e-6
    one = fit_battles_style(["x", "y"], [0], [1], [0], [[5, 0, 0, 0]], [[3, 0, 0, 0]], prior=1.0)
    assert np.all(np.isfinite(one.rating)) and one.rating[0] > one.rating[1]


def write_jsonl(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text(
        "".join(json.dumps({"model_a": a, "model_b": b, "winner": w}) + "\n" for a, b, w in rows)
    )
    return path


def test_fit_file_with_a_prior_equals_fit_counts(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "b.jsonl", [("A", "B", "model_a"), ("C", "B", "model_b")])
    rows = fit_file(path, anchor=None, ci="sandwich", rounds=10, seed=0, style=False, prior=1.0)
    counts = aggregate(["A", "B", "C"], [0, 2], [1, 1], [0, 1])
    assert rows == fit_counts(counts, prior=1.0).rows()
    board = fit_file_leaderboard(path, prior=1.0)
    assert board.params["prior"] == 1.0


def arena(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env["ARENA_DATABASE_URL"] = "sqlite://"
    return subprocess.run(
        [sys.executable, "-m", "arena", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_cli_prior(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "first.jsonl", [("Big", "Small", "model_a")])
    exact = arena("ratings", "fit", str(path), "--json")
    assert exact.returncode == 1
    assert exact.stderr.strip().splitlines() == [
        "error: no finite Bradley-Terry ratings: {Big} never lost or tied against {Small}"
    ]
    proc = arena("ratings", "fit", str(path), "--json", "--prior", "1")
    assert proc.returncode == 0, proc.stderr
    board = json.loads(proc.stdout)
    assert [r["model"] for r in board] == ["Big", "Small"]
    assert board[0]["rating"] > 1000 > board[1]["rating"]
    assert board[0]["rating"] == pytest.approx(fit_counts(one_vote(), prior=1.0).rating[0])
    for bad in ("0", "-1"):
        proc = arena("ratings", "fit", str(path), "--prior", bad)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: --prior must be > 0"), lines
