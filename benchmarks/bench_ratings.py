"""Ratings engine benchmark: exactness, coverage, speed, memory, and a public reference.

Seeded synthetic battles from a known ground truth; prints JSON and writes it to
``benchmarks/results/ratings.json``. Timings are medians of several runs (the
machine is shared). No network.

    .venv/bin/python -m benchmarks.bench_ratings [--quick] [--ref-python PATH]

The side-by-side runs lmarena/arena-rank in its own interpreter
(``--ref-python``, default ``/tmp/ratings-ref-venv/bin/python`` with
``pip install arena-rank``); it is skipped when that interpreter can't import it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from benchmarks.common import RESULTS, ROOT, write_results
from benchmarks.ratings_children import (
    FIT_FILE_CHILD,
    OURS_CHILD,
    REF_CHILD,
    SCALE_CHILD,
    STYLE_CHILD,
)
from ratings.bt import fit_bt
from ratings.counts import PairCounts, aggregate
from ratings.intervals import BLOCK, multinomial_cells
from ratings.leaderboard import ELO_PER_NAT, fit_counts

WINNERS = np.array(["model_a", "model_b", "tie", "tie (bothbad)"])


def simulate(
    m: int, n: int, seed: int, spread: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Battles whose expected score follows Bradley-Terry; 20% ties."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(0.0, spread, m)
    truth -= truth.mean()
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p = 1.0 / (1.0 + np.exp(-(truth[a] - truth[b])))
    tie = rng.random(n) < 0.2
    # keep E[score] = p with 20% ties: P(win | no tie) = (p - 0.1) / 0.8, clipped
    win = np.clip((p - 0.1) / 0.8, 0.0, 1.0)
    o = np.where(tie, 2 + (rng.random(n) < 0.5), np.where(rng.random(n) < win, 0, 1))
    return truth, a, b, o


def median_time(fn: Callable[[], object], repeat: int) -> tuple[float, list[float]]:
    """Median wall time and the runs (rounded)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), [round(t, 4) for t in times]


def cpu_time(fn: Callable[[], object]) -> float:
    """Process CPU seconds (all threads) of one call: less sensitive to other load."""
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def run_measured(cmd: list[str]) -> tuple[str, float, float, float]:
    """Run ``cmd``; return stdout, wall seconds, CPU seconds and peak RSS (MiB) of it alone.

    Peak RSS comes from GNU time when present: ``ru_maxrss`` of a forked child
    also counts the parent's pages shared before ``exec``, which overstates it.
    """
    gnu_time = Path("/usr/bin/time")
    with tempfile.NamedTemporaryFile(mode="r", suffix=".rss") as rss:
        full = [str(gnu_time), "-f", "%M", "-o", rss.name, *cmd] if gnu_time.exists() else cmd
        t0 = time.perf_counter()
        proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
        out = proc.stdout.read() if proc.stdout else b""
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status):
            raise RuntimeError(f"{cmd[:3]} failed")
        text = rss.read().strip()
    peak = int(text.splitlines()[-1]) / 1024 if text else usage.ru_maxrss / 1024
    return out.decode(), wall, usage.ru_utime + usage.ru_stime, peak


def run_child(code: str, python: str = sys.executable) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; it prints one JSON line. Adds peak RSS."""
    out, _, _, peak = run_measured([python, "-c", code])
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    result["child_peak_rss_mib"] = round(peak, 1)
    return result


def write_files(directory: Path, models: int, battles: int, seed: int) -> dict[str, Path]:
    """The same battles as JSONL (vote-export-like extra columns), Parquet and CSV."""
    _, a, b, o = simulate(models, battles, seed)
    names = np.array([f"model-{k:03d}" for k in range(models)])
    rng = np.random.default_rng(seed + 1)
    table = pa.table(
        {
            "vote_id": np.arange(1, battles + 1),
            "battle_id": [f"b{k:08x}" for k in range(battles)],
            "tstamp": 1.7e9 + np.arange(battles) * 0.5,
            "model_a": names[a],
            "model_b": names[b],
            "winner": WINNERS[o],
            "turns": rng.integers(1, 4, battles),
            "included": np.ones(battles, dtype=bool),
            "exclusion_reason": pa.nulls(battles, pa.string()),
        }
    )
    paths = {s: directory / f"battles{s}" for s in (".jsonl", ".parquet", ".csv")}
    pq.write_table(table, paths[".parquet"])
    pa_csv.write_csv(table, paths[".csv"])
    with paths[".jsonl"].open("w") as fh:
        cols = table.to_pydict()
        keys = list(cols)
        for row in zip(*cols.values(), strict=True):
            fh.write(json.dumps(dict(zip(keys, row, strict=True))) + "\n")
    return paths


def reference_fit(counts: PairCounts) -> np.ndarray:
    """Tightly converged SciPy L-BFGS on the full likelihood (all battles, via cells)."""
    from scipy.optimize import minimize

    m = counts.n_models
    i, j = counts.i, counts.j
    score = counts.wins_i + 0.5 * counts.ties
    n = counts.n

    def nll(t: np.ndarray) -> tuple[float, np.ndarray]:
        d = t[i] - t[j]
        p = 1.0 / (1.0 + np.exp(-d))
        r = n * p - score
        g = np.bincount(i, r, m) - np.bincount(j, r, m)
        return float(np.sum(n * np.logaddexp(0.0, d) - score * d)), g

    options = {"gtol": 1e-12, "ftol": 1e-18, "maxiter": 20000, "maxcor": 50}
    res = minimize(nll, np.zeros(m), jac=True, method="L-BFGS-B", options=options)
    x: np.ndarray = res.x - res.x.mean()
    return x


def bench_exactness(quick: bool) -> dict[str, object]:
    out: dict[str, object] = {}
    for m, n in ((20, 50_000), (100, 1_500_000)) if not quick else ((20, 50_000),):
        _, a, b, o = simulate(m, n, seed=1)
        counts = aggregate([f"m{k}" for k in range(m)], a, b, o)
        ours = fit_bt(counts)
        ref = reference_fit(counts)
        out[f"{m}x{n}"] = {
            "max_abs_diff_elo": float(np.abs(ours.theta - ref).max() * ELO_PER_NAT),
            "newton_iterations": ours.iterations,
            "final_grad_norm_per_battle": ours.grad_norm,
        }
    return out


def bench_coverage(quick: bool) -> dict[str, object]:
    reps = 60 if quick else 300
    m, n = 20, 20_000
    hits_s, hits_b = [], []
    for seed in range(reps):
        truth, a, b, o = simulate(m, n, seed=1000 + seed, spread=0.5)
        counts = aggregate([f"m{k}" for k in range(m)], a, b, o)
        t = truth * ELO_PER_NAT + 1000.0
        s = fit_counts(counts, ci="sandwich")
        hits_s.append((s.ci_low <= t) & (t <= s.ci_high))
        if seed < reps // 3:
            bt = fit_counts(counts, ci="bootstrap", rounds=500, seed=seed)
            hits_b.append((bt.ci_low <= t) & (t <= bt.ci_high))
    return {
        "setup": f"{m} models x {n} battles, 20% ties, nominal 95%",
        "sandwich": {"replicates": reps, "coverage": float(np.mean(hits_s))},
        "bootstrap_B500": {"replicates": len(hits_b), "coverage": float(np.mean(hits_b))},
    }


def bench_speed(quick: bool) -> dict[str, object]:
    m, n = 100, 1_500_000
    _, a, b, o = simulate(m, n, seed=2)
    names = [f"model-{k:03d}" for k in range(m)]
    out: dict[str, object] = {"models": m, "battles": n}
    agg, agg_runs = median_time(lambda: aggregate(names, a, b, o), 5)
    counts = aggregate(names, a, b, o)
    out["aggregate_arrays_to_counts_s"] = {"median": agg, "runs": agg_runs}
    fit_counts(counts, ci="sandwich")
    sw, sw_runs = median_time(lambda: fit_counts(counts, ci="sandwich"), 9)
    out["fit_sandwich_from_counts_s"] = {"median": sw, "runs": sw_runs, "target": 0.05}
    boot_repeat = 1 if quick else 3
    bs, bs_runs = median_time(
        lambda: fit_counts(counts, ci="bootstrap", rounds=1000, seed=0), boot_repeat
    )
    out["fit_bootstrap_B1000_s"] = {
        "median": bs,
        "runs": bs_runs,
        "cpu_s_one_run": cpu_time(lambda: fit_counts(counts, ci="bootstrap", rounds=1000, seed=0)),
        "target": 2.0,
    }
    cells = np.stack([counts.wins_i, counts.wins_j, counts.ties], axis=1).ravel()
    rng = np.random.default_rng(0)
    draw, _ = median_time(lambda: [multinomial_cells(rng, cells, BLOCK) for _ in range(20)], 1)
    out["of_which_multinomial_draws_B1000_serial_s"] = draw
    return out


def cli_available() -> bool:
    arena = ROOT / ".venv" / "bin" / "arena"
    if not arena.exists():
        return False
    probe = subprocess.run(
        [str(arena), "ratings", "fit", "--help"], capture_output=True, text=True, check=False
    )
    return probe.returncode == 0


def bench_process(paths: dict[str, Path], repeat: int) -> dict[str, object]:
    """Wall time of a whole process rating a file (CLI once wired, else python -c)."""
    use_cli = cli_available()
    out: dict[str, object] = {"via": "arena ratings fit" if use_cli else "python -c fit_file"}
    for suffix, path in paths.items():
        if use_cli:
            cmd = [str(ROOT / ".venv/bin/arena"), "ratings", "fit", str(path), "--json"]
            cmd += ["--ci", "sandwich"]
        else:
            cmd = [sys.executable, "-c", FIT_FILE_CHILD.format(path=str(path))]
        times, cpu, peaks = [], [], []
        for _ in range(repeat):
            _, wall, used, peak = run_measured(cmd)
            times.append(wall)
            cpu.append(used)
            peaks.append(peak)
        out[suffix] = {
            "median_s": statistics.median(times),
            "runs": [round(t, 3) for t in times],
            "median_cpu_s": statistics.median(cpu),
            "target_s": 1.5 if suffix == ".jsonl" else 1.0,
            "peak_rss_mib": round(max(peaks), 1),
        }
    return out


def bench_reference(parquet: Path, ref_python: str) -> dict[str, object]:
    if (
        not os.path.exists(ref_python)
        or subprocess.run(
            [ref_python, "-c", "import arena_rank, pandas"], capture_output=True, check=False
        ).returncode
    ):
        return {"skipped": f"arena-rank not importable with {ref_python}"}
    ref = run_child(REF_CHILD.format(path=str(parquet)), python=ref_python)
    ours = run_child(OURS_CHILD.format(path=str(parquet)))
    order = {name: k for k, name in enumerate(ref["models"])}  # type: ignore[arg-type]
    idx = [order[name] for name in ours["models"]]  # type: ignore[union-attr]

    def diff(key: str) -> float:
        mine = np.asarray(ours[key])
        theirs = np.asarray(ref[key])[idx]
        return float(np.abs(mine - theirs).max())

    return {
        "reference": "lmarena/arena-rank 0.1.1 BradleyTerry, ci_method='sandwich' (JAX, L-BFGS)",
        "file": parquet.name,
        "max_abs_diff_rating_elo": diff("ratings"),
        "max_abs_diff_ci_low_elo": diff("ci_low"),
        "max_abs_diff_ci_high_elo": diff("ci_high"),
        "ours": {k: v for k, v in ours.items() if k.endswith("_s")},
        "arena_rank": {k: v for k, v in ref.items() if k.endswith("_s")},
        "time_ratio_total": float(ref["total_s"]) / float(ours["total_s"]),  # type: ignore[arg-type]
        "time_ratio_excluding_imports": (
            (float(ref["total_s"]) - float(ref["import_s"]))  # type: ignore[arg-type]
            / (float(ours["total_s"]) - float(ours["import_s"]))  # type: ignore[arg-type]
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--ref-python", default="/tmp/ratings-ref-venv/bin/python")
    parser.add_argument("--out", type=Path, default=RESULTS / "ratings.json")
    args = parser.parse_args()
    quick: bool = args.quick

    results: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_at_start": os.getloadavg(),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        },
        "timing": "medians of repeated runs on a shared machine",
    }
    results["exactness_vs_scipy_lbfgs"] = bench_exactness(quick)
    print(json.dumps(results["exactness_vs_scipy_lbfgs"]), flush=True)
    results["coverage"] = bench_coverage(quick)
    print(json.dumps(results["coverage"]), flush=True)
    results["speed_100_models"] = bench_speed(quick)
    print(json.dumps(results["speed_100_models"]), flush=True)
    n_style = 200_000 if quick else 1_000_000
    results["style_control"] = run_child(STYLE_CHILD.format(n=n_style)) | {"battles": n_style}
    print(json.dumps(results["style_control"]), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        n_file = 200_000 if quick else 1_500_000
        paths = write_files(Path(tmp), 100, n_file, seed=6)
        results["whole_process"] = {"battles": n_file} | bench_process(paths, 3 if quick else 5)
        print(json.dumps(results["whole_process"]), flush=True)
        results["side_by_side"] = bench_reference(paths[".parquet"], args.ref_python)
        print(json.dumps(results["side_by_side"]), flush=True)
    m_big, n_big = (1000, 2_000_000) if quick else (1000, 20_000_000)
    results["scale_1000_models"] = run_child(SCALE_CHILD.format(m=m_big, n=n_big))
    print(json.dumps(results["scale_1000_models"]), flush=True)
    results["load_avg_at_end"] = os.getloadavg()
    print(write_results(args.out, results))


if __name__ == "__main__":
    main()
