"""The `arena` command. Heavy modules are imported inside commands so `arena ratings fit`
starts fast; every expected failure ends as one line on stderr and a non-zero exit."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

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


@ratings_app.command("fit")
def ratings_fit(
    path: Annotated[Path, typer.Argument(help="Battles: .jsonl, .json, .csv or .parquet.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the only output).")] = True,
    anchor: Annotated[str | None, typer.Option(help="MODEL=RATING pins one model.")] = None,
    ci: Annotated[str, typer.Option(help="none, sandwich or bootstrap.")] = "sandwich",
    rounds: Annotated[int, typer.Option(min=1, help="Bootstrap rounds.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    style: Annotated[bool, typer.Option("--style", help="Style-controlled ratings.")] = False,
) -> None:
    """Fit Bradley-Terry ratings to a battles file and print the board as JSON."""
    from arena.settings import parse_anchor
    from ratings.errors import RatingsError
    from ratings.fit import fit_file

    if ci not in ("none", "sandwich", "bootstrap"):
        fail(f"--ci must be none, sandwich or bootstrap, got {ci!r}")
    try:
        pinned = parse_anchor(anchor) if anchor else None
    except ValueError as exc:
        fail(str(exc))
    if not path.is_file():
        fail(f"no such file: {path}")
    try:
        rows = fit_file(path, anchor=pinned, ci=ci, rounds=rounds, seed=seed, style=style)  # type: ignore[arg-type]
    except RatingsError as exc:
        fail(str(exc))
    sys.stdout.write(json.dumps(rows, indent=None if not as_json else 2) + "\n")


@ratings_app.command("recompute")
def ratings_recompute() -> None:
    """Compute a new leaderboard snapshot from the votes in the database."""
    from arena.db import make_sessionmaker, session_scope
    from arena.leaderboard.service import NotRateable, recompute

    settings = load_settings()
    engine = open_engine(settings)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            snap = recompute(session, settings.anchor())
            if snap is None:
                typer.echo("no new votes since the latest snapshot; nothing to do")
                return
            typer.echo(
                f"snapshot {snap.id}: {snap.votes_included} votes included, "
                f"watermark {snap.vote_watermark}, sha256 {snap.sha256[:16]}…"
            )
    except NotRateable as exc:
        fail(f"no finite ratings yet: {exc}")
    finally:
        engine.dispose()


@app.command("export")
def export(
    kind: Annotated[str, typer.Argument(help="votes, preferences or snapshots.")],
    format: Annotated[str, typer.Option(help="jsonl, csv or parquet.")] = "jsonl",
    out: Annotated[Path | None, typer.Option(help="File to write (default: stdout).")] = None,
) -> None:
    """Write votes, preference pairs or leaderboard snapshots for researchers."""
    from arena.db import make_sessionmaker, session_scope
    from arena.exports.service import FORMATS, SOURCES, encode

    if kind not in SOURCES:
        fail(f"export what? votes, preferences or snapshots, not {kind!r}")
    if format not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    if format == "parquet" and out is None and sys.stdout.isatty():
        fail("parquet is binary: give --out FILE or redirect stdout")
    source, columns = SOURCES[kind]
    engine = open_engine(load_settings())
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            sink = out.open("wb") if out else sys.stdout.buffer
            try:
                for chunk in encode(source(session), columns, format):
                    sink.write(chunk)
            finally:
                if out:
                    sink.close()
                else:
                    sink.flush()
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    finally:
        engine.dispose()


def _fleet(config: Path | None) -> tuple[Any, Path]:
    from serving.fleet import FleetError, load_fleet
    from serving.launcher import default_run_dir

    settings = load_settings()
    path = config or settings.fleet
    if path is None:
        fail("give --config FLEET.toml (or set ARENA_FLEET)")
    try:
        fleet = load_fleet(path)
    except (FleetError, OSError) as exc:
        fail(str(exc))
    return fleet, default_run_dir(fleet)


def register_fleet(settings: Settings, fleet: Any) -> None:
    """Add or update every fleet entry as an operator model, then probe them."""
    from arena.db import make_sessionmaker, session_scope
    from arena.models import probing, service

    engine = open_engine(settings)
    try:
        ids = []
        with session_scope(make_sessionmaker(engine)) as session:
            for entry in fleet.models:
                model = service.upsert_operator_model(
                    session, service.operator_model_from_fleet(entry)
                )
                ids.append((model.id, entry.name))
        for model_id, name in ids:
            outcome = probing.probe_now(settings, engine, model_id)
            typer.echo(f"{name}: registered, {'healthy' if outcome.ok else outcome.detail}")
    finally:
        engine.dispose()


ConfigOption = Annotated[Path | None, typer.Option("--config", help="Fleet file (TOML).")]


@fleet_app.command("up")
def fleet_up_cmd(config: ConfigOption = None) -> None:
    """Prepare and start the fleet's vLLM servers, wait for health, register them."""
    from serving.launcher import LaunchError, fleet_up

    fleet, run_dir = _fleet(config)
    try:
        fleet_up(fleet, run_dir=run_dir)
    except LaunchError as exc:
        fail(str(exc))
    register_fleet(load_settings(), fleet)


@fleet_app.command("down")
def fleet_down_cmd(config: ConfigOption = None) -> None:
    """Stop the fleet's servers (SIGTERM to each, SIGKILL its group if it hangs)."""
    from serving.launcher import fleet_down

    _, run_dir = _fleet(config)
    outcomes = fleet_down(run_dir)
    if not outcomes:
        typer.echo("no servers running for this fleet")


@fleet_app.command("status")
def fleet_status_cmd(
    config: ConfigOption = None, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Which of the fleet's servers run and answer /health."""
    from serving.launcher import fleet_status

    _, run_dir = _fleet(config)
    status = fleet_status(run_dir)
    if as_json:
        typer.echo(json.dumps(status, indent=2, default=str))
        return
    if not status:
        typer.echo("no servers running for this fleet")
    for name, info in status.items():
        typer.echo(f"{name:<32} " + "  ".join(f"{k}={v}" for k, v in info.items()))


@app.command()
def demo(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Bind address (ARENA_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (ARENA_PORT).")] = None,
) -> None:
    """The whole arena on this machine: CPU vLLM servers for the demo fleet, then the app.
    Ctrl-C stops everything it started, model servers included."""
    from serving.launcher import LaunchError, fleet_down, fleet_up
    from serving.testing import CPU_DEMO_FLEET

    settings = load_settings()
    if host is not None:
        settings.host = host
    if port is not None:
        settings.port = port
    fleet, run_dir = _fleet(config or settings.fleet or CPU_DEMO_FLEET)
    migrate_database(settings)
    typer.echo("starting the model servers (the first run prepares vLLM and the models)…")
    try:
        started = fleet_up(fleet, run_dir=run_dir, tag="demo")
    except LaunchError as exc:
        fail(str(exc))
    try:
        register_fleet(settings, fleet)
        from arena.server import run

        typer.echo(f"\nArena is up: http://{settings.host}:{settings.port}/  (Ctrl-C stops it)\n")
        run(settings)
    finally:
        ours = [name for name, s in started.items() if s.tag == "demo"]
        if ours:
            typer.echo("stopping the model servers…")
            fleet_down(run_dir, only=ours)


def main() -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        app(standalone_mode=True)
    except CliError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
