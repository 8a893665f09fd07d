"""Headers on every response and the cross-site guard on state-changing API calls.

A browser cannot send `Content-Type: application/json` cross-site without a CORS preflight
(which we never grant), and it always sends `Origin` on such requests; so a state-changing
call must be JSON, and when it carries an `Origin` that origin must be ours. Non-browser
clients (curl, scripts) send no Origin and are let through: they cannot ride a voter's cookie.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arena.errors import error_body

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI at /docs needs its CDN bundle and an inline bootstrap script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: "
    "https://fastapi.tiangolo.com; frame-ancestors 'none'"
)
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _same_origin(origin: str, host: str | None) -> bool:
    parts = urlsplit(origin)
    return bool(host) and parts.netloc == host and parts.scheme in ("http", "https")


class SecurityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if scope["method"] in UNSAFE_METHODS and path.startswith("/api/"):
            headers = Headers(scope=scope)
            problem = self._check(headers)
            if problem is not None:
                status, code, message = problem
                await _send_error(send, status, code, message)
                return
        csp = DOCS_CSP if path in ("/docs", "/redoc") else CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                h.setdefault("content-security-policy", csp)
                h.setdefault("x-content-type-options", "nosniff")
                h.setdefault("x-frame-options", "DENY")
                h.setdefault("referrer-policy", "same-origin")
                h.setdefault("cross-origin-opener-policy", "same-origin")
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _check(headers: Headers) -> tuple[int, str, str] | None:
        origin = headers.get("origin")
        if origin is not None and not _same_origin(origin, headers.get("host")):
            return 403, "cross_origin", "cross-origin requests are not allowed"
        if headers.get("sec-fetch-site") == "cross-site":
            return 403, "cross_origin", "cross-origin requests are not allowed"
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return 415, "unsupported_media_type", "send the body as application/json"
        return None


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    kind = "permission_error" if status == 403 else "invalid_request_error"
    body = orjson.dumps(error_body(message, kind, code))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
