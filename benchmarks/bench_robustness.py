"""Figures of the board's new columns: robustness, bootstrap and style-control speed.

- robustness of all 128 adjacent pairs of a real-size board (129 models, ratings
  spread like LMArena's text board, ~2M votes from a pool that changes over
  time, so pairs meet unevenly and some never), goal under 1 s;
- bootstrap B=1000 on the headline board of ``bench_ratings`` (100 models,
  1.5M battles), goal under 2 s, and its 95% coverage;
- style control with sandwich at 1M battles (``bench_ratings``' style child),
  goal under 2 s.

Each timing runs in a fresh interpreter; medians of several runs, with CPU
seconds beside wall seconds (the machine is shared). Seeded; JSON goes to
``benchmarks/results/robustness.json``.

    .venv/bin/python -m benchmarks.bench_robustness [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from benchmarks.bench_ratings import run_child, simulate
from benchmarks.common import RESULTS, loadavg, write_results
from benchmarks.ratings_children import STYLE_CHILD
from ratings.counts import PairCounts, aggregate
from ratings.leaderboard import ELO_PER_NAT, fit_counts


def real_size_board(seed: int = 0, m: int = 129, n: int = 2_000_000) -> PairCounts:
    """Votes over a changing pool: each model joins, stays a while, and is drawn by popularity."""
    rng = np.random.default_rng(seed)
    elo = np.sort(rng.uniform(1100.0, 1480.0, m))[::-1]
    theta = (elo - elo.mean()) / ELO_PER_NAT
    start = rng.uniform(0.0, 1.0, m)
    life = rng.uniform(0.15, 0.8, m)
    popularity = rng.lognormal(0.0, 0.7, m)
    slots = 200
    per_slot = np.bincount(rng.integers(0, slots, n), minlength=slots)
    a_parts, b_parts = [], []
    for s, k in enumerate(per_slot):
        mid = (s + 0.5) / slots
        active = (start <= mid + 0.05) & (mid <= start + life)
        w = popularity * active
        w /= w.sum()
        a = rng.choice(m, size=k, p=w)
        b = rng.choice(m, size=k, p=w)
        same = a == b
        while same.any():
            b[same] = rng.choice(m, size=int(same.sum()), p=w)
            same = a == b
        a_parts.append(a)
        b_parts.append(b)
    a, b = np.concatenate(a_parts), np.concatenate(b_parts)
    p = 1.0 / (1.0 + np.exp(-(theta[a] - theta[b])))
    tie = rng.random(n) < 0.3
    win = np.clip((p - 0.15) / 0.7, 0.0, 1.0)
    o = np.where(tie, 2 + (rng.random(n) < 0.3), np.where(rng.random(n) < win, 0, 1))
    return aggregate([f"model-{k:03d}" for k in range(m)], a, b, o)


ROBUSTNESS_CHILD = """
import json, statistics, time
import numpy as np
from benchmarks.bench_robustness import real_size_board
from ratings.bt import fit_bt
from ratings.robustness import robustness
counts = real_size_board(n={n})
theta = fit_bt(counts).theta
walls, cpus = [], []
for _ in range({repeat}):
    t0, c0 = time.perf_counter(), time.process_time()
    res = robustness(counts, theta)
    walls.append(time.perf_counter() - t0)
    cpus.append(time.process_time() - c0)
votes = [r.n_votes for r in res if r.n_votes is not None]
print(json.dumps({{"models": counts.n_models, "votes": counts.total, "pairs_met": int(counts.i.size),
  "min_votes_per_model": float(counts.battles_per_model().min()),
  "adjacent_pairs": len(res), "verified": sum(r.verified for r in res),
  "not_within_data": sum(r.n_votes is None for r in res),
  "first_order_estimate_exact": sum(r.estimate == r.n_votes for r in res),
  "n_votes_min_median_max": [min(votes), statistics.median(votes), max(votes)],
  "top_5_pairs_n_votes": [r.n_votes for r in res[:5]],
  "median_s": statistics.median(walls), "runs_s": [round(t, 3) for t in walls],
  "median_cpu_s": statistics.median(cpus), "target_s": 1.0}}))
"""

BOOTSTRAP_CHILD = """
import json, statistics, time
from benchmarks.bench_ratings import simulate
from ratings.counts import aggregate
from ratings.leaderboard import fit_counts
m, n = 100, 1_500_000
_, a, b, o = simulate(m, n, seed=2)
counts = aggregate([f"model-{{k:03d}}" for k in range(m)], a, b, o)
walls, cpus = [], []
for _ in range({repeat}):
    t0, c0 = time.perf_counter(), time.process_time()
    board = fit_counts(counts, ci="bootstrap", rounds=1000, seed=0)
    walls.append(time.perf_counter() - t0)
    cpus.append(time.process_time() - c0)
print(json.dumps({{"models": m, "battles": n, "rounds": 1000,
  "dropped_rounds": board.params["dropped_rounds"],
  "median_s": statistics.median(walls), "runs_s": [round(t, 3) for t in walls],
  "median_cpu_s": statistics.median(cpus), "target_s": 2.0}}))
"""


def bootstrap_coverage(replicates: int) -> dict[str, object]:
    """Share of true ratings inside the bootstrap's 95% intervals (B=500)."""
    hits = []
    for seed in range(replicates):
        truth, a, b, o = simulate(20, 20_000, seed=1000 + seed, spread=0.5)
        counts = aggregate([f"m{k}" for k in range(20)], a, b, o)
        board = fit_counts(counts, ci="bootstrap", rounds=500, seed=seed)
        t = truth * ELO_PER_NAT + 1000.0
        hits.append((board.ci_low <= t) & (t <= board.ci_high))
    return {
        "setup": "20 models x 20000 battles, 20% ties, B=500, nominal 95%",
        "replicates": replicates,
        "coverage": float(np.mean(hits)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and replicates")
    parser.add_argument("--out", type=Path, default=RESULTS / "robustness.json")
    args = parser.parse_args()
    repeat = 2 if args.quick else 5
    results: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "load_avg_at_start": loadavg()},
        "timing": "medians of repeated runs in fresh interpreters on a shared machine",
    }
    results["robustness_129_models"] = run_child(
        ROBUSTNESS_CHILD.format(n=2_000_000, repeat=repeat)
    )
    print(json.dumps(results["robustness_129_models"]), flush=True)
    results["bootstrap_B1000_headline"] = run_child(BOOTSTRAP_CHILD.format(repeat=repeat))
    print(json.dumps(results["bootstrap_B1000_headline"]), flush=True)
    results["bootstrap_coverage"] = bootstrap_coverage(30 if args.quick else 100)
    print(json.dumps(results["bootstrap_coverage"]), flush=True)
    style = [run_child(STYLE_CHILD.format(n=1_000_000)) for _ in range(repeat)]
    seconds = sorted(float(s["seconds"]) for s in style)  # type: ignore[arg-type]
    results["style_sandwich_1M"] = {
        "battles": 1_000_000,
        "models": 100,
        "median_s": seconds[len(seconds) // 2],
        "runs_s": [round(s, 3) for s in seconds],
        "peak_rss_mib": max(float(s["child_peak_rss_mib"]) for s in style),  # type: ignore[arg-type]
        "target_s": 2.0,
    }
    print(json.dumps(results["style_sandwich_1M"]), flush=True)
    results["load_avg_at_end"] = loadavg()
    print(write_results(args.out, results))


if __name__ == "__main__":
    main()
