"""Programs the ratings benchmark runs in fresh interpreters (``str.format`` templates).

Each prints one JSON line last; run from the repository root, so ``benchmarks`` imports.
"""

STYLE_CHILD = """
import json, time, numpy as np
from benchmarks.bench_ratings import simulate
from ratings.fit import fit_battles_style
m, n = 100, {n}
_, a, b, o = simulate(m, n, seed=3)
rng = np.random.default_rng(4)
fa = rng.poisson(300, size=(n, 4)).astype(float)
fb = rng.poisson(300, size=(n, 4)).astype(float)
names = [f"m{{k}}" for k in range(m)]
t0 = time.perf_counter()
board = fit_battles_style(names, a, b, o, fa, fb, ci="sandwich")
t1 = time.perf_counter()
import resource
print(json.dumps({{"seconds": t1 - t0, "coefficients": board.style_coefficients,
  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


SCALE_CHILD = """
import json, time, numpy as np, resource
from benchmarks.bench_ratings import simulate
from ratings.counts import aggregate, PairCounts
from ratings.leaderboard import fit_counts
m, n, chunk = {m}, {n}, 2_000_000
names = [f"m{{k}}" for k in range(m)]
rng = np.random.default_rng(5)
truth = rng.normal(0, 1.0, m)
t0 = time.perf_counter()
total = None
for start in range(0, n, chunk):
    k = min(chunk, n - start)
    a = rng.integers(0, m, k); b = (a + rng.integers(1, m, k)) % m
    p = 1 / (1 + np.exp(-(truth[a] - truth[b])))
    win = np.clip((p - 0.1) / 0.8, 0, 1)
    o = np.where(rng.random(k) < 0.2, 2, np.where(rng.random(k) < win, 0, 1))
    c = aggregate(names, a, b, o)
    if total is None:
        total = c
    else:
        cat = lambda f: np.concatenate([getattr(total, f), getattr(c, f)])
        total = PairCounts.from_arrays(
            names, cat("i"), cat("j"), cat("wins_i"), cat("wins_j"), cat("ties")
        )
t1 = time.perf_counter()
board = fit_counts(total, ci="sandwich")
t2 = time.perf_counter()
print(json.dumps({{"models": m, "battles": n, "pairs": int(total.i.size),
  "simulate_and_aggregate_s": t1 - t0, "fit_sandwich_s": t2 - t1,
  "newton_iterations": board.params["iterations"],
  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


FIT_FILE_CHILD = """
import json, sys, time, resource
t0 = time.perf_counter()
from pathlib import Path
from ratings.fit import fit_file
rows = fit_file(Path({path!r}), anchor=None, ci="sandwich", rounds=0, seed=0, style=False)
sys.stdout.write(json.dumps(rows) + "\\n")
print(json.dumps({{"inner_s": time.perf_counter() - t0,
  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


REF_CHILD = """
import json, time
t0 = time.perf_counter()
import pandas as pd
from arena_rank.models.bradley_terry import BradleyTerry
from arena_rank.utils.data_utils import PairDataset
t1 = time.perf_counter()
df = pd.read_parquet({path!r}, columns=["model_a", "model_b", "winner"])
t2 = time.perf_counter()
ds = PairDataset.from_pandas(df)
t3 = time.perf_counter()
model = BradleyTerry(n_competitors=len(ds.competitors))
res = model.compute_ratings_and_cis(ds, ci_method="sandwich")
t4 = time.perf_counter()
print(json.dumps({{"models": list(res["competitors"]),
  "ratings": [float(x) for x in res["ratings"]],
  "ci_low": [float(x) for x in res["rating_lower"]],
  "ci_high": [float(x) for x in res["rating_upper"]],
  "import_s": t1 - t0, "read_s": t2 - t1, "aggregate_s": t3 - t2, "fit_sandwich_s": t4 - t3,
  "total_s": t4 - t0}}))
"""

OURS_CHILD = """
import json, time
t0 = time.perf_counter()
from pathlib import Path
from ratings.battles_file import read_battles
from ratings.leaderboard import fit_counts
t1 = time.perf_counter()
battles = read_battles(Path({path!r}))
counts = battles.counts()
t2 = time.perf_counter()
board = fit_counts(counts, ci="sandwich")
t3 = time.perf_counter()
print(json.dumps({{"models": list(board.models), "ratings": board.rating.tolist(),
  "ci_low": board.ci_low.tolist(), "ci_high": board.ci_high.tolist(),
  "import_s": t1 - t0, "read_and_aggregate_s": t2 - t1, "fit_sandwich_s": t3 - t2,
  "total_s": t3 - t0}}))
"""
