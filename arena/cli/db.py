"""`arena db`: the database schema."""

from __future__ import annotations

import typer

from arena.cli.common import load_settings, migrate_database

app = typer.Typer(no_args_is_help=True, help="Database schema.")


@app.command("upgrade")
def upgrade() -> None:
    """Apply every migration (alembic upgrade head)."""
    migrate_database(load_settings())
    typer.echo("database is at the latest schema")
