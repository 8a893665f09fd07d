"""Running the app under uvicorn: one process, or N workers on one port."""

from __future__ import annotations

from typing import Any

import uvicorn

from arena.app import create_app
from arena.logs import log_config
from arena.secret_key import resolve_secret_key
from arena.settings import Settings

FACTORY = "arena.app:app_from_env"


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Everything uvicorn is told besides the app and the worker count.

    X-Forwarded-For is believed only from the peers in ARENA_FORWARDED_ALLOW_IPS (uvicorn then
    rewrites the ASGI client, which arena/clients.py counts); without the setting uvicorn's
    proxy middleware is off, since its own default would trust 127.0.0.1 and let anything on
    the host pick its address.
    """
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "server_header": False,
        "date_header": True,
        # Levels are in the log config: ARENA_LOG_LEVEL must not silence the access log.
        "log_config": log_config(settings),
        "log_level": None,
        "access_log": settings.access_log != "off",
        "timeout_graceful_shutdown": settings.graceful_shutdown_seconds,
    }
    if settings.forwarded_allow_ips:
        options["forwarded_allow_ips"] = [str(net) for net in settings.forwarded_allow_ips]
    return options


def run(settings: Settings, workers: int = 1) -> None:
    """Serve until SIGTERM/SIGINT, then let in-flight requests finish for up to
    ``settings.graceful_shutdown_seconds``.

    With ``workers > 1`` uvicorn forks a supervisor and N processes that each build their own
    app from the environment (``FACTORY``), so they share nothing but the database and Redis,
    exactly like replicas on several machines. Each worker applies the same log config.
    """
    resolve_secret_key(settings)  # the access log hashes addresses with it; idempotent
    options = uvicorn_options(settings)
    if workers > 1:
        uvicorn.run(FACTORY, factory=True, workers=workers, **options)
        return
    uvicorn.Server(uvicorn.Config(create_app(settings), **options)).run()
