"""Exclusion rules benchmark: the board test's false positives and what it catches.

A realistic board: 120 models with true ratings ~ N(1100, 100^2), 100,000 population votes
on uniformly drawn pairs (30% ties, the rest by the true logistic), fitted with the arena's
own Bradley-Terry and sandwich intervals. Then simulated clients cast votes on uniformly
drawn pairs and the board test (:func:`ratings.outliers.evidence_path`, the function the
vote path uses) runs after every vote at the default threshold ``ln(1 / 1e-4)``:

- honest voters (10,000 of each kind, 1 to 50 votes each): like the population; with a
  personal taste (their own ratings off by N(0, 50^2) per model); tying twice as often;
  always picking the truly stronger model. Goal: none flagged.
- rigged clients (2,000 of each kind), by votes per client: for one target model (they
  vote only in battles with it), target drawn from all models, the bottom half, the top
  quarter; contrarians (always the lower-rated side on the board); coin-flippers.
  ``caught`` is the share flagged by their n-th vote, ``excluded`` the share of their
  n votes the rule excludes (a flag also excludes the earlier votes it read).

    .venv/bin/python -m benchmarks.bench_exclusions [--voters N] [--seed S]

Prints JSON and writes ``benchmarks/results/exclusions.json``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import RESULTS, write_results
from ratings.counts import aggregate
from ratings.leaderboard import fit_counts
from ratings.outliers import evidence_path, predicted_score

MODELS = 120
POPULATION_VOTES = 100_000
TIE_RATE = 0.3
THRESHOLD = math.log(1.0 / 1e-4)  # the default ARENA_ABUSE_FALSE_POSITIVE_RATE
VOTES_PER_CLIENT = (5, 10, 20, 30, 50, 100, 200)

Votes = tuple[np.ndarray, np.ndarray, np.ndarray]


class World:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.truth = self.rng.normal(1100.0, 100.0, MODELS)
        a, b = self.pairs(POPULATION_VOTES)
        y = self.outcome(a, b, self.truth, TIE_RATE)
        codes = np.where(y == 1.0, 0, np.where(y == 0.0, 1, 2))
        board = fit_counts(aggregate([f"m{k}" for k in range(MODELS)], a, b, codes))
        self.rating = board.rating
        self.half = (board.ci_high - board.ci_low) / 2

    def pairs(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        a = self.rng.integers(0, MODELS, n)
        return a, (a + self.rng.integers(1, MODELS, n)) % MODELS

    def outcome(self, a: np.ndarray, b: np.ndarray, ratings: np.ndarray, tie: float) -> np.ndarray:
        p = predicted_score(ratings[a], ratings[b])
        won = (self.rng.random(a.size) < p).astype(np.float64)
        return np.where(self.rng.random(a.size) < tie, 0.5, won)

    def path(self, a: np.ndarray, b: np.ndarray, y: np.ndarray) -> np.ndarray:
        r, h = self.rating, self.half
        return evidence_path(a, b, predicted_score(r[a], r[b], h[a], h[b]), y)


def honest_kinds(world: World) -> dict[str, Callable[[int], Votes]]:
    def population(n: int) -> Votes:
        a, b = world.pairs(n)
        return a, b, world.outcome(a, b, world.truth, TIE_RATE)

    def taste(n: int) -> Votes:
        own = world.truth + world.rng.normal(0.0, 50.0, MODELS)
        a, b = world.pairs(n)
        return a, b, world.outcome(a, b, own, TIE_RATE)

    def tie_happy(n: int) -> Votes:
        a, b = world.pairs(n)
        return a, b, world.outcome(a, b, world.truth, 2 * TIE_RATE)

    def always_stronger(n: int) -> Votes:
        a, b = world.pairs(n)
        return a, b, (world.truth[a] > world.truth[b]).astype(np.float64)

    return {
        "population": population,
        "personal_taste": taste,
        "tie_happy": tie_happy,
        "always_stronger": always_stronger,
    }


def rigged_kinds(world: World) -> dict[str, Callable[[int], Votes]]:
    order = np.argsort(world.truth)

    def for_target(pool: np.ndarray) -> Callable[[int], Votes]:
        def vote(n: int) -> Votes:
            x = int(world.rng.choice(pool))
            other = (x + world.rng.integers(1, MODELS, n)) % MODELS
            x_is_a = world.rng.random(n) < 0.5
            a = np.where(x_is_a, x, other)
            b = np.where(x_is_a, other, x)
            return a, b, x_is_a.astype(np.float64)

        return vote

    def contrarian(n: int) -> Votes:
        a, b = world.pairs(n)
        return a, b, (world.rating[a] < world.rating[b]).astype(np.float64)

    def coin(n: int) -> Votes:
        a, b = world.pairs(n)
        return a, b, (world.rng.random(n) < 0.5).astype(np.float64)

    return {
        "target_any_model": for_target(order),
        "target_bottom_half": for_target(order[: MODELS // 2]),
        "target_top_quarter": for_target(order[-MODELS // 4 :]),
        "contrarian": contrarian,
        "coin_flip": coin,
    }


def honest(world: World, kind: Callable[[int], Votes], voters: int) -> dict[str, Any]:
    worst = np.empty(voters)
    votes = 0
    for v in range(voters):
        n = int(world.rng.integers(1, 51))
        worst[v] = world.path(*kind(n)).max()
        votes += n
    return {
        "voters": voters,
        "votes": votes,
        "flagged": int((worst >= THRESHOLD).sum()),
        "false_positive_rate": float((worst >= THRESHOLD).mean()),
        "max_statistic": round(float(worst.max()), 3),
        "p999_statistic": round(float(np.quantile(worst, 0.999)), 3),
    }


def rigged(world: World, kind: Callable[[int], Votes], clients: int) -> dict[str, Any]:
    longest = max(VOTES_PER_CLIENT)
    crossed = np.zeros((clients, longest), dtype=bool)
    for c in range(clients):
        crossed[c] = world.path(*kind(longest)) >= THRESHOLD
    out: dict[str, Any] = {}
    for n in VOTES_PER_CLIENT:
        hit = crossed[:, :n]
        # a flag at vote j excludes vote j and the earlier votes it read
        last = np.where(hit.any(axis=1), n - np.argmax(hit[:, ::-1], axis=1), 0)
        out[str(n)] = {
            "caught": round(float(hit.any(axis=1).mean()), 4),
            "excluded": round(float(last.sum() / (clients * n)), 4),
        }
    return out


def two_model_demo() -> dict[str, Any]:
    """The demo's case: two models 200 Elo apart, a voter always picking the better one."""
    a = np.zeros(200, dtype=np.int64)
    b = np.ones(200, dtype=np.int64)
    p = predicted_score(np.full(200, 1100.0), np.full(200, 900.0), 15.0, 15.0)
    path = evidence_path(a, b, p, np.ones(200))
    worst = float(path.max())
    return {"votes": 200, "max_statistic": round(worst, 3), "flagged": worst >= THRESHOLD}


def vote_path_cost(world: World) -> dict[str, float]:
    a, b = world.pairs(1000)
    y = world.outcome(a, b, world.truth, TIE_RATE)
    runs = []
    for _ in range(50):
        start = time.perf_counter()
        world.path(a, b, y)
        runs.append(time.perf_counter() - start)
    return {"history_votes": 1000, "median_ms": round(1000 * float(np.median(runs)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--voters", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "exclusions.json")
    args = parser.parse_args()
    world = World(args.seed)
    start = time.perf_counter()
    results: dict[str, Any] = {
        "seed": args.seed,
        "models": MODELS,
        "population_votes": POPULATION_VOTES,
        "tie_rate": TIE_RATE,
        "threshold": round(THRESHOLD, 3),
        "board_half_width_mean": round(float(world.half.mean()), 2),
        "honest": {
            name: honest(world, kind, args.voters) for name, kind in honest_kinds(world).items()
        },
        "rigged_by_votes_per_client": {
            name: rigged(world, kind, args.clients) for name, kind in rigged_kinds(world).items()
        },
        "two_model_demo_always_better": two_model_demo(),
        "vote_path_statistic": vote_path_cost(world),
    }
    results["seconds"] = round(time.perf_counter() - start, 1)
    print(write_results(args.out, results))


if __name__ == "__main__":
    main()
