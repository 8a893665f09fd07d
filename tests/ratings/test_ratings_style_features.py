"""Style features that cannot be fitted (no variance, collinear) are left out and named."""

from __future__ import annotations

import numpy as np
import pytest

from ratings import style as style_module
from ratings.errors import RatingsInputError
from ratings.fit import fit_battles_style
from ratings.style import feature_rank_check


def _battles(n: int = 3000, seed: int = 1) -> tuple[list[str], np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    models = ["m0", "m1", "m2", "m3"]
    a = rng.integers(0, 4, n)
    b = (a + rng.integers(1, 4, n)) % 4
    strength = np.array([0.0, 0.4, 0.8, 1.2])
    fa = rng.integers(50, 800, (n, 4)).astype(float)
    fb = rng.integers(50, 800, (n, 4)).astype(float)
    p = 1 / (1 + np.exp(-(strength[a] - strength[b])))
    outcome = np.where(rng.random(n) < p, 0, 1)  # 0: model_a won, 1: model_b won
    return models, a, b, outcome, fa, fb


def test_rank_check_names_zero_variance_and_collinear_columns() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 4))
    x[:, 1] = 0.0
    x[:, 3] = 2 * x[:, 0] - x[:, 2]
    kept, dropped = feature_rank_check(x)
    assert kept == [0, 2]
    assert dropped == {1: "zero variance", 3: "collinear"}


def test_rank_check_keeps_independent_columns() -> None:
    x = np.random.default_rng(0).normal(size=(500, 4))
    assert feature_rank_check(x) == ([0, 1, 2, 3], {})


def test_style_fit_drops_a_duplicated_feature_and_says_so() -> None:
    models, a, b, outcome, fa, fb = _battles()
    fa[:, 3] = fa[:, 0]
    fb[:, 3] = fb[:, 0]  # the fourth feature repeats the first exactly
    board = fit_battles_style(models, a, b, outcome, fa, fb, ci="sandwich")
    names = ["sum_assistant_tokens", "header_count", "list_count", "bold_count"]
    assert board.params["dropped_features"] == {names[3]: "collinear"}
    assert board.params["features"] == names[:3]
    assert board.style_coefficients is not None
    assert set(board.style_coefficients) == set(names[:3])
    same = fit_battles_style(
        models, a, b, outcome, fa[:, :3], fb[:, :3], ci="sandwich", feature_names=names[:3]
    )
    assert np.allclose(board.rating, same.rating)
    assert np.allclose(board.ci_low, same.ci_low)


def test_style_fit_without_degenerate_features_records_nothing() -> None:
    models, a, b, outcome, fa, fb = _battles()
    board = fit_battles_style(models, a, b, outcome, fa, fb, ci="none")
    assert "dropped_features" not in board.params


def test_a_singular_information_matrix_is_a_named_error_not_linalg() -> None:
    # With few battles the covariates can be unidentifiable even when every column varies;
    # the fit and the sandwich must then raise a ratings error the server and CLI handle.
    singular = np.array([[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(RatingsInputError, match="not identifiable"):
        style_module._inverse(singular)
    with pytest.raises(RatingsInputError, match="not identifiable"):
        style_module._solve(singular, np.ones(2))
    assert np.allclose(style_module._inverse(np.eye(2) * 2), np.eye(2) / 2)
