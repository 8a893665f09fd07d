"""A request id for every HTTP request: in a contextvar, in the response, in every log line.

The id is the caller's own: an incoming ``X-Request-ID`` that is a short safe token (a proxy's
``$request_id``, a client's trace id) is kept, anything else is replaced by a fresh uuid4 hex.
Model servers receive it as ``<id>-<side>`` (arena/battles/stream.py), so one battle turn can
be followed from the proxy's log through ours to both vLLM servers'.

A pure ASGI middleware, not ``BaseHTTPMiddleware``, which would buffer the SSE streams.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode()
# Letters, digits and . _ - only: the id goes into log lines and upstream headers as is.
_SAFE = re.compile(r"[A-Za-z0-9._-]{1,64}")

_current: ContextVar[str | None] = ContextVar("arena_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled in this context, None outside a request."""
    return _current.get()


def accept_or_new(raw: bytes | None) -> str:
    """The incoming id when it is a safe token, otherwise a new one."""
    if raw is not None:
        text = raw.decode("latin-1").strip()
        if _SAFE.fullmatch(text):
            return text
    return uuid.uuid4().hex


def upstream_headers(side: str) -> dict[str, str]:
    """Headers for a model-server request made on behalf of the current request."""
    rid = _current.get()
    return {HEADER: f"{rid}-{side}"} if rid else {}


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == _HEADER_KEY), None)
        rid = accept_or_new(incoming)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = rid
            await send(message)

        token = _current.set(rid)
        await self.app(scope, receive, send_with_id)
        # Reset only on a normal return: an exception goes on to Starlette's error middleware
        # (outside this one), whose "unhandled error" log line should still carry the id.
        # Under uvicorn every request runs in a task of its own, so nothing outlives it.
        _current.reset(token)
