"""Style control side by side with lmarena/arena-rank's ContextualBradleyTerry.

Seeded synthetic battles (20 models, 200k battles, answer length, headers,
lists and bold per side, a known style effect on the outcome, 20% ties). Both
fits get the same standardised covariates (``ratings.style.normalize_features``)
and no inverse-propensity reweighting; arena-rank runs in its own interpreter
(``--ref-python``, a scratch venv with ``pip install arena-rank pandas``), and
the comparison is skipped when that interpreter cannot import it. arena-rank is
never a dependency of this project.

Two objectives: the unpenalised MLE (arena-rank ``reg=0``) and arena-rank's
default ``reg=1`` on the *mean* log-likelihood, which is ``reg * N`` on the
total log-likelihood that ``ratings.style.fit_style`` penalises. With a ridge
the intervals differ by design: arena-rank's sandwich leaves the ridge out of
the bread (its Hessian has only ``hessian_reg``) and centres the meat, ours
uses the Hessian of the penalised objective.

    .venv/bin/python -m benchmarks.compare_arena_rank [--ref-python /tmp/arvenv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.bench_ratings import WINNERS, run_child
from benchmarks.common import RESULTS, write_results
from ratings.leaderboard import ELO_PER_NAT, INIT_RATING, z_value
from ratings.style import (
    STYLE_FEATURES,
    StyleBattles,
    fit_style,
    normalize_features,
    style_sandwich,
)

TRUE_BETA = np.array([0.25, 0.05, 0.10, 0.08])

REF_CHILD = """
import json, time
t0 = time.perf_counter()
import pandas as pd
from arena_rank.models.contextual_bradley_terry import ContextualBradleyTerry
from arena_rank.utils.data_utils import ContextualPairDataset
df = pd.read_parquet({path!r})
cols = [c for c in df.columns if c.startswith("x_")]
ds = ContextualPairDataset.from_pandas(df, feature_cols=cols, reweighted=False,
                                       normalize_features=False)
out = {{}}
for name, reg in (("mle", 0.0), ("default_reg", 1.0)):
    t1 = time.perf_counter()
    model = ContextualBradleyTerry(n_competitors=len(ds.competitors), n_features=len(cols), reg=reg)
    res = model.compute_ratings_and_cis(ds, ci_method="sandwich")
    out[name] = {{"models": list(res["competitors"]), "ratings": [float(v) for v in res["ratings"]],
                 "coefs": [float(v) for v in res["coeffs"]],
                 "ci_low": [float(v) for v in res["rating_lower"]],
                 "ci_high": [float(v) for v in res["rating_upper"]],
                 "fit_sandwich_s": time.perf_counter() - t1}}
out["total_s"] = time.perf_counter() - t0
print(json.dumps(out))
"""


def simulate(m: int = 20, n: int = 200_000, seed: int = 7) -> dict[str, np.ndarray]:
    """Battles whose outcome depends on skill and on the style difference."""
    rng = np.random.default_rng(seed)
    skill = rng.normal(0.0, 0.6, m)
    verbosity = rng.lognormal(0.0, 0.4, m)  # style habits differ by model
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m

    def side(k: np.ndarray) -> np.ndarray:
        v = verbosity[k]
        tokens = rng.lognormal(np.log(400 * v), 0.5)
        return np.stack(
            [tokens, rng.poisson(2 * v), rng.poisson(6 * v), rng.poisson(4 * v)], axis=1
        ).astype(np.float64)

    fa, fb = side(a), side(b)
    x = normalize_features(fa, fb)
    p = 1.0 / (1.0 + np.exp(-(skill[a] - skill[b] + x @ TRUE_BETA)))
    tie = rng.random(n) < 0.2
    win = np.clip((p - 0.1) / 0.8, 0.0, 1.0)
    o = np.where(tie, 2 + (rng.random(n) < 0.5), np.where(rng.random(n) < win, 0, 1))
    return {"a": a, "b": b, "o": o, "fa": fa, "fb": fb, "x": x}


def ours(names: list[str], d: dict[str, np.ndarray], reg: float) -> dict[str, object]:
    t0 = time.perf_counter()
    battles = StyleBattles.from_arrays(names, d["a"], d["b"], d["o"], d["x"])
    fit = fit_style(battles, reg=reg)
    cov = style_sandwich(battles, fit, reg=reg)
    m = len(names)
    half = z_value() * np.sqrt(np.diag(cov)[:m]) * ELO_PER_NAT
    rating = ELO_PER_NAT * fit.theta + INIT_RATING
    return {
        "ratings": rating,
        "coefs": fit.coef,
        "coef_se": np.sqrt(np.diag(cov)[m:]),
        "ci_low": rating - half,
        "ci_high": rating + half,
        "fit_sandwich_s": time.perf_counter() - t0,
    }


def objective(d: dict[str, np.ndarray], ratings: np.ndarray, coef: np.ndarray, reg: float) -> float:
    """Penalised log-likelihood (total) of Elo-scale ratings and coefficients."""
    theta = (ratings - INIT_RATING) / ELO_PER_NAT
    z = theta[d["a"]] - theta[d["b"]] + d["x"] @ coef
    y = np.where(d["o"] == 0, 1.0, np.where(d["o"] == 1, 0.0, 0.5))
    return float(np.sum(y * z - np.logaddexp(0.0, z)) - 0.5 * reg * coef @ coef)


def compare(
    d: dict[str, np.ndarray], reg: float, mine: dict[str, object], ref: dict[str, object]
) -> dict[str, object]:
    def arr(d: dict[str, object], key: str) -> np.ndarray:
        return np.asarray(d[key], dtype=np.float64)

    coef_diff = np.abs(arr(mine, "coefs") - arr(ref, "coefs"))
    worst = int(np.argmax(coef_diff))
    return {
        "coefficients_ours": dict(zip(STYLE_FEATURES, arr(mine, "coefs").tolist(), strict=True)),
        "coefficients_arena_rank": dict(
            zip(STYLE_FEATURES, arr(ref, "coefs").tolist(), strict=True)
        ),
        "max_abs_diff_coef": float(coef_diff[worst]),
        "max_abs_diff_coef_feature": STYLE_FEATURES[worst],
        "max_abs_diff_coef_in_standard_errors": float(
            coef_diff[worst] / arr(mine, "coef_se")[worst]
        ),
        "max_abs_diff_rating_elo": float(np.abs(arr(mine, "ratings") - arr(ref, "ratings")).max()),
        "max_abs_diff_ci_low_elo": float(np.abs(arr(mine, "ci_low") - arr(ref, "ci_low")).max()),
        "max_abs_diff_ci_high_elo": float(np.abs(arr(mine, "ci_high") - arr(ref, "ci_high")).max()),
        # >= 0: our optimum is at least as high on the common objective
        "objective_ours_minus_arena_rank": objective(
            d, arr(mine, "ratings"), arr(mine, "coefs"), reg
        )
        - objective(d, arr(ref, "ratings"), arr(ref, "coefs"), reg),
        "ours_fit_sandwich_s": mine["fit_sandwich_s"],
        "arena_rank_fit_sandwich_s": ref["fit_sandwich_s"],
    }


def reference_usable(python: str) -> bool:
    if not os.path.exists(python):
        return False
    probe = [python, "-c", "import arena_rank, pandas, pyarrow"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref-python", default="/tmp/arvenv/bin/python")
    parser.add_argument("--out", type=Path, default=RESULTS / "compare_arena_rank.json")
    args = parser.parse_args()
    results: dict[str, object] = {
        "setup": "20 models x 200k battles, 4 style features, 20% ties, seed 7, unweighted",
        "true_coefficients": dict(zip(STYLE_FEATURES, TRUE_BETA.tolist(), strict=True)),
    }
    if not reference_usable(args.ref_python):
        results["skipped"] = f"arena-rank not importable with {args.ref_python}"
        print(write_results(args.out, results))
        return
    d = simulate()
    m = 20
    names = [f"model-{k:02d}" for k in range(m)]  # sorted, as arena-rank factorizes
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "style.parquet"
        columns: dict[str, object] = {
            "model_a": np.array(names)[d["a"]],
            "model_b": np.array(names)[d["b"]],
            "winner": WINNERS[d["o"]],
        }
        columns |= {f"x_{f}": d["x"][:, k] for k, f in enumerate(STYLE_FEATURES)}
        pq.write_table(pa.table(columns), path)
        ref = run_child(REF_CHILD.format(path=str(path)), python=args.ref_python)
    n = d["a"].size
    for name, reg in (("mle", 0.0), ("default_reg", 1.0 * n)):
        r = ref[name]
        assert isinstance(r, dict) and r["models"] == names
        results[name] = {"reg_total_loglik": reg} | compare(d, reg, ours(names, d, reg), r)
    results["arena_rank_total_s_with_imports"] = ref["total_s"]
    results["largest_coef_difference"] = max(
        float(results[k]["max_abs_diff_coef"])  # type: ignore[index]
        for k in ("mle", "default_reg")
    )
    print(json.dumps(results, indent=2, default=float))
    write_results(args.out, results)


if __name__ == "__main__":
    main()
