"""Running the app under uvicorn: one process, or N workers on one port."""

from __future__ import annotations

from typing import Any

import uvicorn

from arena.app import create_app
from arena.settings import Settings

FACTORY = "arena.app:app_from_env"


def run(settings: Settings, workers: int = 1) -> None:
    """Serve until SIGTERM/SIGINT, then let in-flight requests finish for up to
    ``settings.graceful_shutdown_seconds``.

    With ``workers > 1`` uvicorn forks a supervisor and N processes that each build their own
    app from the environment (``FACTORY``), so they share nothing but the database and Redis,
    exactly like replicas on several machines.
    """
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "proxy_headers": False,
        "server_header": False,
        "date_header": True,
        "log_level": "info",
        "timeout_graceful_shutdown": settings.graceful_shutdown_seconds,
    }
    if workers > 1:
        uvicorn.run(FACTORY, factory=True, workers=workers, **options)
        return
    uvicorn.Server(uvicorn.Config(create_app(settings), **options)).run()
