"""An ASGI app under a real uvicorn on a loopback port, in a background thread.

Tests and benchmarks use it for fake model servers and for the arena itself::

    with ThreadedServer(app, lifespan="on") as server:
        httpx.get(server.url + "/health")

The socket is bound before the thread starts, so the port is known (and taken) at once.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any, Literal, Self

import uvicorn
from starlette.types import ASGIApp


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class ThreadedServer:
    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        lifespan: Literal["auto", "on", "off"] = "off",
        log_level: str = "warning",
        startup_timeout: float = 30.0,
        shutdown_timeout: float = 10.0,
        **config: Any,
    ) -> None:
        """``config``: further ``uvicorn.Config`` options (``timeout_graceful_shutdown``…)."""
        self.host = host
        self._startup_timeout = startup_timeout
        self._shutdown_timeout = shutdown_timeout
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.port: int = self._sock.getsockname()[1]
        config.setdefault("access_log", False)
        self._server = uvicorn.Server(
            uvicorn.Config(app, lifespan=lifespan, log_level=log_level, **config)
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    base_url = url

    def start(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=self._shutdown_timeout)
        self._sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)
