"""The `arena` command. Heavy modules are imported inside commands so `arena ratings fit`
starts fast; every expected failure ends as one line on stderr and a non-zero exit."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from arena.settings import Settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Arena: anonymous battles between language models, votes, and a leaderboard.",
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
models_app = typer.Typer(no_args_is_help=True, help="Model endpoints (operator).")
ratings_app = typer.Typer(no_args_is_help=True, help="Bradley-Terry ratings.")
fleet_app = typer.Typer(no_args_is_help=True, help="vLLM model servers from a fleet file.")
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")
app.add_typer(ratings_app, name="ratings")
app.add_typer(fleet_app, name="fleet")


class CliError(Exception):
    """An expected failure: printed as one line, exit status 1."""


def fail(message: str) -> NoReturn:
    raise CliError(message)


def load_settings() -> Settings:
    from pydantic import ValidationError

    from arena.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        field = "ARENA_" + "_".join(str(p) for p in err["loc"]).upper()
        fail(f"invalid setting {field}: {err['msg']}")


def open_engine(settings: Settings, *, migrated: bool = True) -> Engine:
    """An engine that has answered a query; optionally checks the schema is at head."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    import arena.tables  # noqa: F401  (every mapper known before the first query)
    from arena.db import DatabaseURLError, make_engine
    from arena.migrate import NotMigratedError, require_migrated

    try:
        engine = make_engine(settings.database_url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DatabaseURLError as exc:
        fail(str(exc))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        fail(f"cannot reach the database {_safe_url(settings.database_url)}: {reason}")
    if migrated:
        try:
            require_migrated(engine)
        except NotMigratedError as exc:
            fail(str(exc))
    return engine


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable URL)"


def migrate_database(settings: Settings) -> None:
    from arena.migrate import upgrade

    engine = open_engine(settings, migrated=False)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (alembic upgrade head)."""
    migrate_database(load_settings())
    typer.echo("database is at the latest schema")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (ARENA_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (ARENA_PORT).")] = None,
) -> None:
    """Migrate the database, then run the API and web pages with uvicorn."""
    settings = load_settings()
    if host is not None:
        settings.host = host
    if port is not None:
        settings.port = port
    migrate_database(settings)
    from arena.server import run

    run(settings)


@models_app.command("add")
def models_add(
    name: Annotated[str, typer.Option(help="Display name, revealed after the vote.")],
    base_url: Annotated[str, typer.Option(help="OpenAI-compatible base URL (…/v1).")],
    api_model: Annotated[str, typer.Option(help="Model name the server expects.")],
    license: Annotated[str, typer.Option(help="open or proprietary.")] = "open",
    organization: Annotated[str, typer.Option(help="Who made the model.")] = "",
    api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the API key.")
    ] = None,
    alias: Annotated[
        list[str] | None, typer.Option(help="Name that identifies the model in answers.")
    ] = None,
) -> None:
    """Register an operator endpoint; it is approved at once and probed."""
    from arena.db import make_sessionmaker, session_scope
    from arena.models import probing, service

    settings = load_settings()
    engine = open_engine(settings)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            model = service.add_operator_model(
                session,
                service.OperatorModel(
                    name=name,
                    base_url=base_url,
                    api_model=api_model,
                    license=license,
                    organization=organization,
                    api_key_env=api_key_env,
                    aliases=alias or [],
                ),
            )
            model_id = model.id
        typer.echo(f"added model {name!r} (id {model_id}), approved")
        report = probing.probe_now(settings, engine, model_id)
        typer.echo(f"health: {'ok' if report.ok else 'failing'} ({report.detail})")
    except service.ModelError as exc:
        fail(str(exc))
    finally:
        engine.dispose()


@models_app.command("list")
def models_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List registered model endpoints."""
    from arena.db import make_sessionmaker, session_scope
    from arena.models import service

    engine = open_engine(load_settings())
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            rows = [service.describe(m) for m in service.list_models(session)]
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        typer.echo("no models registered")
        return
    for r in rows:
        health = "healthy" if r["healthy"] else "unhealthy"
        typer.echo(
            f"{r['id']:>4}  {r['name']:<32} {r['status']:<10} {health:<9} "
            f"{r['organization'] or '-':<20} {r['license']:<11} {r['base_url']}"
        )


def main() -> None:
    try:
        app(standalone_mode=True)
    except CliError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
