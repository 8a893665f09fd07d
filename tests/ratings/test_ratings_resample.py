"""The bootstrap's multinomial draw: exact total, multinomial moments."""

from __future__ import annotations

import numpy as np

from ratings.intervals import multinomial_cells


def test_draws_keep_the_total_and_empty_cells() -> None:
    cells = np.array([120.0, 0.0, 35.0, 1.0, 844.0])
    draws = multinomial_cells(np.random.default_rng(0), cells, 400)
    assert draws.shape == (400, 5)
    np.testing.assert_array_equal(draws.sum(axis=1), np.full(400, 1000.0))
    assert (draws >= 0).all() and (draws[:, 1] == 0).all()
    # whole battles only
    assert np.all(draws == np.rint(draws))


def test_moments_match_the_multinomial() -> None:
    cells = np.array([0.5, 3.0, 10.0, 0.0, 1.5])
    n = cells.sum()
    p = cells / n
    draws = multinomial_cells(np.random.default_rng(1), cells, 200_000)
    np.testing.assert_array_equal(draws.sum(axis=1), np.full(200_000, n))
    np.testing.assert_allclose(draws.mean(axis=0), n * p, atol=0.02)
    expected = n * (np.diag(p) - np.outer(p, p))
    # a Poisson draw without the correction would have variance n * p, not n * p (1 - p)
    np.testing.assert_allclose(np.cov(draws.T), expected, atol=0.04)


def test_fractional_weights_draw_in_proportion() -> None:
    cells = np.array([2.5, 7.5])
    draws = multinomial_cells(np.random.default_rng(2), cells, 50_000)
    np.testing.assert_array_equal(draws.sum(axis=1), np.full(50_000, 10.0))
    np.testing.assert_allclose(draws[:, 0].mean(), 2.5, atol=0.03)
    np.testing.assert_allclose(draws[:, 0].var(), 10 * 0.25 * 0.75, atol=0.05)
