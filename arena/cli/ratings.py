"""`arena ratings`: fitting a battles file, and new snapshots from the database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from arena.cli.common import CiMethod, JsonOption, choice, echo_json, fail, load_settings, session

app = typer.Typer(no_args_is_help=True, help="Bradley-Terry ratings.")

View = Literal["default", "style"]


@app.command("fit")
def fit(
    path: Annotated[Path, typer.Argument(help="Battles: .jsonl, .json, .csv or .parquet.")],
    as_json: JsonOption = False,
    anchor: Annotated[str | None, typer.Option(help="MODEL=RATING pins one model.")] = None,
    ci: Annotated[
        CiMethod, typer.Option(parser=choice(CiMethod, "--ci"), help="Confidence intervals.")
    ] = "sandwich",
    rounds: Annotated[int, typer.Option(min=1, help="Bootstrap rounds.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    style: Annotated[bool, typer.Option("--style", help="Style-controlled ratings.")] = False,
    view: Annotated[
        View | None,
        typer.Option(parser=choice(View, "--view"), help="style is the same as --style."),
    ] = None,
    category: Annotated[
        str | None,
        typer.Option(help="Only rows whose categories column holds NAME (e.g. coding, lang:de)."),
    ] = None,
    prior: Annotated[
        float | None,
        typer.Option(
            help="P > 0 virtual ties of every model against the mean (finite ratings "
            "where the MLE does not exist)."
        ),
    ] = None,
) -> None:
    """Fit Bradley-Terry ratings to a battles file and print the board.

    Without --prior the result is the exact maximum-likelihood fit.
    """
    from arena.settings import parse_anchor
    from ratings.errors import RatingsError
    from ratings.fit import fit_file

    try:
        pinned = parse_anchor(anchor) if anchor else None
    except ValueError as exc:
        fail(str(exc))
    if prior is not None and not prior > 0:
        fail(f"--prior must be > 0 (virtual ties per model), got {prior:g}")
    if view == "default" and style:
        fail("--view default contradicts --style")
    if category is not None and (not category.strip() or "," in category):
        fail(f"--category must be one tag without commas, got {category!r}")
    if not path.is_file():
        fail(f"no such file: {path}")
    try:
        rows = fit_file(
            path,
            anchor=pinned,
            ci=ci,
            rounds=rounds,
            seed=seed,
            style=style or view == "style",
            prior=prior,
            category=category,
        )
    except RatingsError as exc:
        fail(str(exc))
    if as_json:
        echo_json(rows)
        return
    typer.echo(
        f"{'rank':>4}  {'model':<32} {'rating':>8} {'ci_low':>8} {'ci_high':>8} {'battles':>8}"
    )
    for r in rows:
        typer.echo(
            f"{r['rank']:>4}  {r['model']!s:<32} {_number(r['rating'])} "
            f"{_number(r['ci_low'])} {_number(r['ci_high'])} {r['battles']:>8}"
        )


def _number(value: Any) -> str:
    return f"{'-':>8}" if value is None else f"{value:>8.1f}"


@app.command("recompute")
def recompute_snapshot() -> None:
    """Compute a new leaderboard snapshot from the votes in the database."""
    from arena.leaderboard.service import NotRateable, recompute

    settings = load_settings()
    try:
        with session(settings) as s:
            snap = recompute(s, settings.anchor(), prior=settings.rating_prior or None)
            if snap is None:
                typer.echo("no new votes since the latest snapshot; nothing to do")
                return
            typer.echo(
                f"snapshot {snap.id}: {snap.votes_included} votes included, "
                f"watermark {snap.vote_watermark}, sha256 {snap.sha256[:16]}…"
            )
    except NotRateable as exc:
        fail(f"no finite ratings yet: {exc}")
