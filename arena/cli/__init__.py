"""The `arena` command, one module per command group.

Heavy modules are imported inside commands so `arena --help` and `arena ratings fit` start
fast; every expected failure ends as one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import os
import sys

import typer

from arena.cli import db, demo, export, fleet, models, ratings, serve, snapshots
from arena.cli.common import CliError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Arena: anonymous battles between language models, votes, and a leaderboard.",
)
app.command("serve")(serve.serve)
app.command("export")(export.export)
app.command("demo")(demo.demo)
app.add_typer(db.app, name="db")
app.add_typer(models.app, name="models")
app.add_typer(ratings.app, name="ratings")
app.add_typer(fleet.app, name="fleet")
app.add_typer(snapshots.app, name="snapshots")


def main() -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        app(standalone_mode=True)
    except CliError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
