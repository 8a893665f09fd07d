"""`arena serve`: the API and web pages."""

from __future__ import annotations

from arena.cli.common import HostOption, PortOption, load_settings, migrate_database


def serve(host: HostOption = None, port: PortOption = None) -> None:
    """Migrate the database, then run the API and web pages with uvicorn."""
    settings = load_settings(host, port)
    migrate_database(settings)
    from arena.server import run

    run(settings)
