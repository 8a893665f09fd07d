"""Style control: contextual Bradley-Terry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize

from ratings.bt import fit_bt
from ratings.counts import aggregate
from ratings.errors import RatingsInputError
from ratings.fit import fit_battles_style, fit_file
from ratings.style import STYLE_FEATURES, StyleBattles, fit_style, normalize_features


def simulate(seed: int, m: int = 6, n: int = 6000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.linspace(-0.8, 0.8, m)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    # model k writes longer answers the higher k is, so length confounds skill
    fa = rng.poisson(200 + 40 * a[:, None], size=(n, 4)).astype(float)
    fb = rng.poisson(200 + 40 * b[:, None], size=(n, 4)).astype(float)
    x = normalize_features(fa, fb)
    beta = np.array([0.5, 0.0, -0.2, 0.1])
    p = 1 / (1 + np.exp(-(truth[a] - truth[b] + x @ beta)))
    o = np.where(rng.random(n) < p, 0, 1)
    return {"a": a, "b": b, "o": o, "fa": fa, "fb": fb, "x": x, "truth": truth, "beta": beta}


def test_normalisation_matches_arena_rank() -> None:
    fa = np.array([[10.0], [0.0], [5.0]])
    fb = np.array([[30.0], [0.0], [5.0]])
    raw = np.array([-0.5, 0.0, 0.0])
    expected = (raw - raw.mean()) / raw.std(ddof=1)
    np.testing.assert_allclose(normalize_features(fa, fb)[:, 0], expected)
    # a constant feature stays finite
    assert np.isfinite(normalize_features(np.ones((3, 1)), np.ones((3, 1)))).all()


def test_matches_scipy_reference() -> None:
    d = simulate(0, n=3000)
    m = 6
    names = [f"m{k}" for k in range(m)]
    fit = fit_style(StyleBattles.from_arrays(names, d["a"], d["b"], d["o"], d["x"]))
    y = (d["o"] == 0).astype(float)
    a, b, x = d["a"], d["b"], d["x"]

    def nll(v: np.ndarray) -> tuple[float, np.ndarray]:
        t, c = v[:m], v[m:]
        z = t[a] - t[b] + x @ c
        q = 1 / (1 + np.exp(-z))
        g = np.concatenate([np.bincount(a, q - y, m) - np.bincount(b, q - y, m), x.T @ (q - y)])
        return float(np.sum(np.logaddexp(0, z) - y * z)), g

    options = {"gtol": 1e-12, "ftol": 1e-16, "maxiter": 10000}
    ref = minimize(nll, np.zeros(m + 4), jac=True, method="L-BFGS-B", options=options)
    np.testing.assert_allclose(fit.theta, ref.x[:m] - ref.x[:m].mean(), atol=1e-6)
    np.testing.assert_allclose(fit.coef, ref.x[m:], atol=1e-6)
    assert nll(np.concatenate([fit.theta, fit.coef]))[0] <= ref.fun + 1e-9


def test_recovers_truth_and_removes_style_bias() -> None:
    d = simulate(1, n=20000)
    names = [f"m{k}" for k in range(6)]
    board = fit_battles_style(names, d["a"], d["b"], d["o"], d["fa"], d["fb"], ci="sandwich")
    coef = np.array([board.style_coefficients[f] for f in STYLE_FEATURES])
    np.testing.assert_allclose(coef, d["beta"], atol=0.08)
    truth = (d["truth"] - d["truth"].mean()) * 400 / np.log(10) + 1000
    assert np.all((board.ci_low <= truth) & (truth <= board.ci_high))
    plain = fit_bt(aggregate(names, d["a"], d["b"], d["o"])).theta
    # without control, long-winded top models look better than they are
    assert plain[-1] - plain[0] > board.theta[-1] - board.theta[0]


def test_zero_coefficients_reduce_to_plain_bt() -> None:
    d = simulate(2, n=2000)
    names = [f"m{k}" for k in range(6)]
    fit = fit_style(StyleBattles.from_arrays(names, d["a"], d["b"], d["o"], np.zeros((2000, 1))))
    plain = fit_bt(aggregate(names, d["a"], d["b"], d["o"])).theta
    np.testing.assert_allclose(fit.theta, plain, atol=1e-9)


def test_style_through_fit_file(tmp_path: Path) -> None:
    d = simulate(3, n=400)
    path = tmp_path / "b.jsonl"
    winners = ["model_a", "model_b"]
    with path.open("w") as fh:
        for k in range(400):
            row: dict[str, object] = {
                "model_a": f"m{d['a'][k]}",
                "model_b": f"m{d['b'][k]}",
                "winner": winners[d["o"][k]],
            }
            for f, stem in enumerate(STYLE_FEATURES):
                row[f"{stem}_a"] = d["fa"][k, f]
                row[f"{stem}_b"] = d["fb"][k, f]
            fh.write(json.dumps(row) + "\n")
    kw = {"anchor": None, "ci": "sandwich", "rounds": 10, "seed": 0}
    rows = fit_file(path, style=True, **kw)  # type: ignore[arg-type]
    assert len(rows) == 6
    boot = fit_file(path, style=True, **{**kw, "ci": "bootstrap"})  # type: ignore[arg-type]
    assert [r["rating"] for r in boot] == [r["rating"] for r in rows]
    with path.open("a") as fh:
        fh.write(json.dumps({"model_a": "m0", "model_b": "m1", "winner": "tie"}) + "\n")
    with pytest.raises(RatingsInputError, match=r"^b.jsonl line 401: missing sum_assistant"):
        fit_file(path, style=True, **kw)  # type: ignore[arg-type]
