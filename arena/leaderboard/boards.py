"""Fitting each board of a recompute: the headline, the style view and one per category.

Every board is fitted the way `arena ratings fit FILE --json <fit_args>` fits its votes
download, through the same functions: `ratings.leaderboard.fit_counts` on the pair counts
for default boards (a category board: the counts of the votes holding that tag), and
`ratings.fit.fit_battles_style` on the votes one by one for the style view. Where the
plain MLE does not exist, the configured minimal prior is added, as for the headline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from arena.leaderboard.arrays import VoteArrays
from ratings.counts import PairCounts
from ratings.errors import DisconnectedGraphError, RatingsInputError, UnboundedRatingsError
from ratings.fit import fit_battles_style
from ratings.leaderboard import Leaderboard, fit_counts
from ratings.robustness import robustness

log = logging.getLogger("arena.leaderboard")

VIEWS = ("default", "style")


class NotRateable(Exception):
    """The votes so far do not define finite ratings (say, one model never lost yet)."""


@dataclass
class Fitted:
    """One board, fitted: what its snapshot stores."""

    view: str
    category: str | None
    board: Leaderboard
    params: dict[str, Any]
    votes: int
    robustness: dict[str, int | None] = field(default_factory=dict)
    style_coefficients: dict[str, Any] | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.view, self.category)


def _anchor(params: dict[str, Any], models: tuple[str, ...]) -> tuple[str, float] | None:
    anchor = params.get("anchor")
    if not anchor or anchor[0] not in models:
        # A board the anchor model has no votes on stays on the mean-1000 scale.
        params["anchor"] = None
        return None
    return (str(anchor[0]), float(anchor[1]))


def with_prior(
    fit: Callable[[float | None], Leaderboard], params: dict[str, Any], prior: float | None
) -> Leaderboard:
    """The exact MLE where it exists; else, with a prior configured, the minimal prior."""
    try:
        try:
            return fit(params.get("prior"))
        except (DisconnectedGraphError, UnboundedRatingsError) as exc:
            if prior is None:
                raise
            log.info("no MLE yet (%s): fitting with prior %s", exc, prior)
            params["prior"] = prior
            return fit(prior)
    except RatingsInputError as exc:
        raise NotRateable(str(exc)) from exc


def fit_default(counts: PairCounts, params: dict[str, Any], prior: float | None) -> Leaderboard:
    """A plain Bradley-Terry board from pair counts, with ``params``' intervals and anchor."""
    anchor = _anchor(params, counts.models)
    return with_prior(
        lambda p: fit_counts(
            counts,
            anchor=anchor,
            ci=params.get("ci", "sandwich"),
            rounds=int(params.get("rounds", 1000)),
            seed=int(params.get("seed", 0)),
            prior=p,
        ),
        params,
        prior,
    )


def board_robustness(counts: PairCounts, board: Leaderboard) -> dict[str, int | None]:
    """Per model, the fewest votes whose removal swaps it with the next model down (None:
    the last model, or not within the data)."""
    prior = board.params.get("prior")
    pairs = robustness(
        counts, board.theta, prior=float(prior) if isinstance(prior, int | float) else None
    )
    out: dict[str, int | None] = {name: None for name in counts.models}
    for pair in pairs:
        out[counts.models[pair.upper]] = pair.n_votes
    return out


def fit_category(
    arrays: VoteArrays,
    names: dict[int, str],
    category: str,
    params: dict[str, Any],
    prior: float | None,
) -> Fitted:
    """The default board of the votes holding ``category``."""
    counts, votes = arrays.category_counts(names, category)
    params = {**params, "category": category}
    board = fit_default(counts, params, prior)
    return Fitted("default", category, board, params, votes, board_robustness(counts, board))


def fit_style_view(
    arrays: VoteArrays, names: dict[int, str], params: dict[str, Any], prior: float | None
) -> Fitted:
    """The style-controlled board of every counted vote.

    A feature with zero variance (or spanned by the others) is fitted without, and
    `fit_battles_style` names it in ``params["dropped_features"]``, exactly as
    `fit --view style` does on the download; it has no coefficient.
    """
    models, a, b = arrays.indexed(names)
    params = {**params, "method": "bradley-terry-style", "view": "style"}
    anchor = _anchor(params, models)
    board = with_prior(
        lambda p: fit_battles_style(
            models,
            a,
            b,
            arrays.outcome,
            arrays.features_a,
            arrays.features_b,
            anchor=anchor,
            ci=params.get("ci", "sandwich"),
            prior=p,
        ),
        params,
        prior,
    )
    coefficients = {
        name: {
            "coef": coef,
            "ci_low": coef - board.style_half_width[name] if board.style_half_width else None,
            "ci_high": coef + board.style_half_width[name] if board.style_half_width else None,
        }
        for name, coef in board.style_coefficients.items()
    }
    return Fitted("style", None, board, params, arrays.size, {}, coefficients)
