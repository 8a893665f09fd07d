"""Running the app under uvicorn."""

from __future__ import annotations

import uvicorn

from arena.app import create_app
from arena.settings import Settings


def run(settings: Settings) -> None:
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        proxy_headers=False,
        server_header=False,
        date_header=True,
        log_level="info",
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run()
