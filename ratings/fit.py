"""Entry points: rate a battles file, or per-battle arrays with style control."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ratings.battles_file import read_battles, where
from ratings.bt import DEFAULT_TOL, check_prior
from ratings.errors import RatingsInputError
from ratings.leaderboard import CiMethod, Leaderboard, build_leaderboard, fit_counts, z_value
from ratings.style import (
    STYLE_FEATURES,
    StyleBattles,
    feature_rank_check,
    fit_style,
    style_bootstrap,
    style_sandwich,
)

__all__ = ["fit_battles_style", "fit_file", "fit_file_leaderboard"]


def fit_battles_style(
    models: Sequence[str],
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    outcome: npt.ArrayLike,
    features_a: npt.ArrayLike,
    features_b: npt.ArrayLike,
    *,
    anchor: tuple[str, float] | None = None,
    ci: CiMethod = "sandwich",
    rounds: int = 100,
    seed: int = 0,
    feature_names: Sequence[str] = STYLE_FEATURES,
    reg: float = 0.0,
    tol: float = DEFAULT_TOL,
    prior: float | None = None,
) -> Leaderboard:
    """Style-controlled leaderboard from per-battle arrays.

    ``features_a``/``features_b`` have shape ``(N, F)``: raw per-side counts
    (answer tokens, markdown headers, list items, bold spans), normalised here
    by :func:`ratings.style.normalize_features`. The bootstrap refits all
    battles per round, so keep ``rounds`` modest. ``prior`` as in
    :func:`ratings.leaderboard.fit_counts`.
    """
    battles = StyleBattles.from_features(models, a, b, outcome, features_a, features_b)
    kept, dropped = feature_rank_check(battles.x)
    dropped_features = {feature_names[j]: why for j, why in dropped.items()}
    if dropped:
        battles = StyleBattles.from_arrays(
            battles.models, battles.a, battles.b, battles.outcome, battles.x[:, kept]
        )
        feature_names = [feature_names[j] for j in kept]
    fit = fit_style(battles, reg=reg, tol=tol, prior=prior)
    half = None
    coef_half = None
    samples = None
    params: dict[str, object] = {
        "method": "bradley-terry-style",
        "ci": ci,
        "tol": tol,
        "features": list(feature_names),
        "reg": reg,
        "anchor": None if anchor is None else [anchor[0], anchor[1]],
    }
    if prior is not None:
        params["prior"] = prior
    if dropped_features:
        # Not fittable (no variance, or spanned by the features kept): fitted without them.
        params["dropped_features"] = dropped_features
    if ci == "sandwich":
        cov = style_sandwich(battles, fit, reg=reg, prior=prior)
        half = z_value() * np.sqrt(np.clip(np.diag(cov)[: battles.n_models], 0.0, None))
        coef_half = z_value() * np.sqrt(np.clip(np.diag(cov)[battles.n_models :], 0.0, None))
    elif ci == "bootstrap":
        samples = style_bootstrap(battles, fit, rounds, seed, reg=reg, tol=tol, prior=prior)
        params.update(rounds=rounds, seed=seed)
    elif ci != "none":
        raise ValueError(f"unknown ci method {ci!r}")
    return build_leaderboard(
        battles.models,
        fit.theta,
        battles.battles_per_model(),
        anchor=anchor,
        ci=ci,
        half_width=half,
        samples=samples,
        params=params,
        style_coefficients={n: float(c) for n, c in zip(feature_names, fit.coef, strict=True)},
        style_half_width=None
        if coef_half is None
        else {n: float(h) for n, h in zip(feature_names, coef_half, strict=True)},
    )


def fit_file_leaderboard(
    path: Path,
    *,
    anchor: tuple[str, float] | None = None,
    ci: CiMethod = "sandwich",
    rounds: int = 1000,
    seed: int = 0,
    style: bool = False,
    prior: float | None = None,
    category: str | None = None,
) -> Leaderboard:
    """Like :func:`fit_file` but returns the :class:`Leaderboard` itself."""
    check_prior(prior)
    if not style:
        battles = read_battles(path, category=category)
        return fit_counts(
            battles.counts(), anchor=anchor, ci=ci, rounds=rounds, seed=seed, prior=prior
        )
    columns = tuple(f"{stem}_{side}" for side in "ab" for stem in STYLE_FEATURES)
    battles = read_battles(path, extra_columns=columns, category=category)
    import pyarrow.compute as pc

    values = []
    for name in columns:
        column = battles.table[name]
        if column.null_count:
            k = int(pc.index(pc.is_null(column), True).as_py())
            row = k if battles.rows is None else int(battles.rows[k])
            raise RatingsInputError(f"{where(path, row)}: missing {name} (needed by --style)")
        values.append(column.to_numpy())
    f = len(STYLE_FEATURES)
    feats = np.stack(values, axis=1).astype(np.float64)
    return fit_battles_style(
        battles.models,
        battles.a,
        battles.b,
        battles.outcome,
        feats[:, :f],
        feats[:, f:],
        anchor=anchor,
        ci=ci,
        rounds=rounds,
        seed=seed,
        prior=prior,
    )


def fit_file(
    path: Path,
    *,
    anchor: tuple[str, float] | None,
    ci: CiMethod,
    rounds: int,
    seed: int,
    style: bool,
    prior: float | None = None,
    category: str | None = None,
) -> list[dict[str, object]]:
    """Rate the battles in ``path``: ``{model, rating, ci_low, ci_high, rank, rank_ub, battles}``.

    Rows are sorted by rank (then name); ``ci_low``/``ci_high`` are ``None`` when
    ``ci == "none"``. Raises :class:`~ratings.errors.RatingsError` subclasses whose
    ``str()`` is a one-line message (:class:`~ratings.errors.RatingsInputError` for
    anything wrong with the file or data). Without ``prior`` the fit is the exact
    MLE and raises when it does not exist; ``prior=P`` adds ``P`` virtual ties of
    every model against the mean (:mod:`ratings.bt`). ``category``: only the rows
    whose ``categories`` column holds that tag.
    """
    return fit_file_leaderboard(
        path,
        anchor=anchor,
        ci=ci,
        rounds=rounds,
        seed=seed,
        style=style,
        prior=prior,
        category=category,
    ).rows()
