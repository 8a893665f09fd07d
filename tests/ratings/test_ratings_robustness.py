"""Robustness of adjacent pairs: fewest votes whose removal swaps them."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from ratings.bt import fit_bt
from ratings.counts import PairCounts, aggregate
from ratings.errors import RatingsError
from ratings.robustness import LEVEL, PairRobustness, robustness


def without(counts: PairCounts, result: PairRobustness, less: int = 0) -> PairCounts:
    """``counts`` minus the removed votes (minus ``less`` of them, taken from the last cell)."""
    cells = np.stack([counts.wins_i, counts.wins_j, counts.ties], axis=1)
    take = result.removed.votes.copy()
    if less:
        take[-1] -= less
    np.subtract.at(cells, (result.removed.pair, result.removed.outcome), take)
    assert (cells >= 0).all()
    return PairCounts(counts.models, counts.i, counts.j, *(cells.T.copy()))


def gap_after(counts: PairCounts, result: PairRobustness, prior: float | None = None) -> float:
    theta = fit_bt(counts, prior=prior).theta
    return float(theta[result.upper] - theta[result.lower])


def compositions(total: int, caps: list[int]) -> Iterator[tuple[int, ...]]:
    if len(caps) == 1:
        if total <= caps[0]:
            yield (total,)
        return
    for first in range(min(total, caps[0]) + 1):
        for rest in compositions(total - first, caps[1:]):
            yield (first, *rest)


def brute_force(counts: PairCounts, upper: int, lower: int, limit: int) -> int | None:
    """Fewest votes, over every subset, whose removal leaves a finite MLE with the pair level or swapped."""
    cells = np.stack([counts.wins_i, counts.wins_j, counts.ties], axis=1)
    caps = [int(c) for c in cells.ravel()]
    for size in range(limit + 1):
        for drop in compositions(size, caps):
            left = cells - np.reshape(drop, (-1, 3))
            sample = PairCounts(counts.models, counts.i, counts.j, *(left.T.copy()))
            try:
                theta = fit_bt(sample).theta
            except RatingsError:
                continue
            if theta[upper] - theta[lower] <= LEVEL:
                return size
    return None


def test_two_models_by_hand() -> None:
    # 60-40 with 10 ties: removing 20 of the winner's wins makes it 40-40
    counts = PairCounts.from_arrays(["a", "b"], [0], [1], [60], [40], [10])
    (res,) = robustness(counts)
    assert (res.upper, res.lower, res.n_votes, res.verified) == (0, 1, 20, True)
    assert res.gap == pytest.approx(np.log(65 / 45))
    np.testing.assert_array_equal(res.removed.pair, [0])
    np.testing.assert_array_equal(res.removed.outcome, [0])
    np.testing.assert_array_equal(res.removed.votes, [20.0])
    # the first-order estimate overshoots here; the refits bring it down
    assert res.estimate is not None and res.estimate > 20


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_exhaustive_search_on_tiny_boards(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = 3 if seed < 3 else 4
    i, j = np.triu_indices(m, 1)
    wins = rng.integers(1, 7, size=(i.size, 2))
    ties = rng.integers(0, 2, i.size)
    counts = PairCounts.from_arrays([f"m{k}" for k in range(m)], i, j, *wins.T, ties)
    checked = 0
    for res in robustness(counts):
        assert res.n_votes is not None
        if res.n_votes > 4:
            continue
        assert brute_force(counts, res.upper, res.lower, res.n_votes) == res.n_votes
        checked += 1
    assert checked >= 2


def test_removing_the_votes_swaps_and_one_fewer_does_not() -> None:
    rng = np.random.default_rng(5)
    m, n = 15, 20_000
    truth = np.sort(rng.normal(0, 0.4, m))
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p = 1 / (1 + np.exp(-(truth[a] - truth[b])))
    o = np.where(rng.random(n) < 0.25, 2, np.where(rng.random(n) < p, 0, 1))
    # a newcomer with only a handful of votes
    a = np.concatenate([a, [m] * 6])
    b = np.concatenate([b, [0, 1, 2, 3, 4, 5]])
    o = np.concatenate([o, [0, 1, 0, 2, 0, 1]])
    counts = aggregate([f"m{k}" for k in range(m + 1)], a, b, o)
    theta = fit_bt(counts).theta
    results = robustness(counts, theta)
    assert len(results) == m
    assert [r.upper for r in results] == list(np.argsort(-theta)[:-1])
    for res in results:
        assert res.verified and res.n_votes is not None and res.n_votes >= 1
        assert res.removed.votes.sum() == res.n_votes
        assert gap_after(without(counts, res), res) <= LEVEL
        assert gap_after(without(counts, res, less=1), res) > LEVEL


def test_bigger_gap_needs_more_votes() -> None:
    # a and b beat a common opponent alike; only their head-to-head margin differs
    found = []
    for margin in range(1, 12):
        counts = PairCounts.from_arrays(
            ["a", "b", "c"],
            [0, 0, 1],
            [1, 2, 2],
            [40 + margin, 40, 40],
            [40 - margin, 20, 20],
            [5, 4, 4],
        )
        res = next(r for r in robustness(counts) if {r.upper, r.lower} == {0, 1})
        assert res.upper == 0 and res.verified
        found.append(res.n_votes)
    # dropping 2 * margin of a's wins over b levels the head-to-head
    assert found == [2 * margin for margin in range(1, 12)]


def test_level_pair_needs_no_votes() -> None:
    # mirror-image records: a and b share a rank already
    counts = PairCounts.from_arrays(
        ["a", "b", "c"], [0, 0, 1], [1, 2, 2], [10, 12, 12], [10, 8, 8], [2, 1, 1]
    )
    by_pair = {(r.upper, r.lower): r for r in robustness(counts)}
    level = by_pair[(0, 1)] if (0, 1) in by_pair else by_pair[(1, 0)]
    assert level.n_votes == 0 and level.verified and level.removed.pair.size == 0
    assert level.gap <= LEVEL


def test_prior_board_where_the_mle_does_not_exist() -> None:
    # "a" never lost: only the prior gives it a finite rating
    counts = PairCounts.from_arrays(
        ["a", "b", "c"], [0, 0, 1], [1, 2, 2], [5, 3, 6], [0, 0, 4], [0, 0, 1]
    )
    with pytest.raises(RatingsError):
        robustness(counts)
    results = robustness(counts, prior=1.0)
    for res in results:
        assert res.verified and res.n_votes is not None
        assert gap_after(without(counts, res), res, prior=1.0) <= LEVEL
        assert gap_after(without(counts, res, less=1), res, prior=1.0) > LEVEL


def test_single_model_board() -> None:
    counts = PairCounts.from_arrays(["a"], [], [], [], [], [])
    assert robustness(counts, np.zeros(1)) == []


def test_short_rankings_fall_back_to_all_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    import ratings.robustness as module

    rng = np.random.default_rng(9)
    m, n = 8, 4000
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p = 1 / (1 + np.exp(-(np.linspace(-1, 1, m)[a] - np.linspace(-1, 1, m)[b])))
    counts = aggregate([f"m{k}" for k in range(m)], a, b, np.where(rng.random(n) < p, 0, 1))
    expected = [r.n_votes for r in robustness(counts)]
    # one ranked cell per pair: the search runs out of it and restarts on every cell
    monkeypatch.setattr(module, "_TOP", 1)
    short = robustness(counts)
    assert [r.n_votes for r in short] == expected
    assert all(r.verified for r in short)
    assert max(r.removed.pair.size for r in short) > 1
