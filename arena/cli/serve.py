"""`arena serve`: the API and web pages, in one process or N workers on one port."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from arena.cli.common import HostOption, PortOption, fail, load_settings, prepare_to_serve

if TYPE_CHECKING:
    from arena.settings import Settings

WORKERS_PER_CORE = 2

WorkersOption = Annotated[
    int,
    typer.Option(
        "--workers",
        help="API processes on one port (uvicorn workers); at most 2 per usable core.",
    ),
]


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_workers(workers: int, settings: Settings) -> None:
    """Every worker is a whole app (engine pool, HTTP client, loops): past two per core
    they only compete for CPU and database connections."""
    most = WORKERS_PER_CORE * usable_cores()
    if not 1 <= workers <= most:
        fail(
            f"--workers must be between 1 and {most} ({WORKERS_PER_CORE} per usable core, "
            f"{usable_cores()} here), got {workers}"
        )
    if workers == 1:
        return
    if settings.metrics_port:
        fail(
            "ARENA_METRICS_PORT cannot be used with --workers above 1: every worker would "
            "bind the same metrics port (run one worker per replica to export metrics)"
        )
    if in_memory(settings.database_url):
        fail("an in-memory SQLite database cannot be shared by several workers: use a file")
    if not settings.redis_url:
        typer.echo(
            f"warning: without ARENA_REDIS_URL each of the {workers} workers counts rate "
            "limits on its own",
            err=True,
        )


def in_memory(database_url: str) -> bool:
    from arena.secret_key import SecretKeyError, key_file

    try:
        return key_file(database_url) is None
    except SecretKeyError:  # PostgreSQL, or a bad URL that the migration reports
        return False


def serve(host: HostOption = None, port: PortOption = None, workers: WorkersOption = 1) -> None:
    """Migrate the database, then run the API and web pages with uvicorn."""
    settings = load_settings(host, port)
    check_workers(workers, settings)
    prepare_to_serve(settings)
    from arena.server import run

    run(settings, workers=workers)
