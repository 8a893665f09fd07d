"""What every command shares: settings, the database, typed choices, one-line failures.

Only typer and the standard library are imported here; everything heavier is imported
inside the function that needs it, so `arena --help` stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn, get_args

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from arena.settings import Settings

# The product defines these where they are used (exports, ratings, model tables), but those
# modules pull in SQLAlchemy or NumPy; tests/foundation/test_cli.py keeps the copies equal.
Format = Literal["jsonl", "csv", "parquet"]
ExportKind = Literal["votes", "preferences", "snapshots"]
CiMethod = Literal["none", "sandwich", "bootstrap"]
License = Literal["open", "proprietary"]


class CliError(Exception):
    """An expected failure: printed as one line, exit status 1."""


def fail(message: str) -> NoReturn:
    raise CliError(message)


def choice(kind: Any, label: str) -> Callable[[str], Any]:
    """A typer ``parser`` for a ``Literal``: a wrong value is a one-line error like any other.

    typer's own check would print a usage box and exit 2; raising `CliError` (not a
    `ValueError`) lets it pass through typer's validation to `main`.
    """
    values: tuple[str, ...] = get_args(kind)

    def parse(value: str) -> str:
        if value not in values:
            fail(f"{label} must be one of {', '.join(values)}, got {value!r}")
        return value

    return parse


HostOption = Annotated[str | None, typer.Option(help="Bind address (ARENA_HOST).")]
PortOption = Annotated[int | None, typer.Option(help="Port (ARENA_PORT).")]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="Fleet file (TOML).")]


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def load_settings(host: str | None = None, port: int | None = None) -> Settings:
    """`Settings` from the environment, with `--host`/`--port` taking precedence."""
    from pydantic import ValidationError

    from arena.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        field = "ARENA_" + "_".join(str(p) for p in err["loc"]).upper()
        fail(f"invalid setting {field}: {err['msg']}")
    if host is not None:
        settings.host = host
    if port is not None:
        settings.port = port
    return settings


@contextmanager
def database(settings: Settings, *, migrated: bool = True) -> Iterator[Engine]:
    """An engine that has answered a query (and, unless ``migrated=False``, is at head);
    disposed on the way out. A bad URL, an unreachable server or an old schema fails here."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    import arena.tables  # noqa: F401  (every mapper known before the first query)
    from arena.db import DatabaseURLError, make_engine
    from arena.migrate import NotMigratedError, require_migrated

    try:
        engine = make_engine(settings.database_url)
    except DatabaseURLError as exc:
        fail(str(exc))
    try:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            if migrated:
                require_migrated(engine)
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            fail(f"cannot reach the database {_safe_url(settings.database_url)}: {reason}")
        except NotMigratedError as exc:
            fail(str(exc))
        yield engine
    finally:
        engine.dispose()


@contextmanager
def session(settings: Settings) -> Iterator[Session]:
    """One unit of work on a migrated database, for commands that need nothing else."""
    from arena.db import make_sessionmaker, session_scope

    with database(settings) as engine, session_scope(make_sessionmaker(engine)) as s:
        yield s


def migrate_database(settings: Settings) -> None:
    from arena.migrate import upgrade

    with database(settings, migrated=False) as engine:
        upgrade(engine)


def prepare_to_serve(settings: Settings) -> None:
    """What `serve` and `demo` check before they start anything: the secret key (refused
    unset on PostgreSQL), Redis answering when it is configured, then the migration."""
    import asyncio

    from arena.ratelimit import RedisUnavailable, ping_redis
    from arena.secret_key import SecretKeyError, resolve_secret_key

    try:
        resolve_secret_key(settings)
    except SecretKeyError as exc:
        fail(str(exc))
    if settings.redis_url:
        try:
            asyncio.run(ping_redis(settings.redis_url))
        except RedisUnavailable as exc:
            fail(str(exc))
    migrate_database(settings)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable URL)"
