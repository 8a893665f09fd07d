"""Error pages in the site layout for people; the JSON envelope for programs.

A request gets HTML when it is not under `/api/` and its `Accept` asks for HTML (a browser
navigating). Everything else keeps the handlers of `arena.errors`, which this wraps.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import cast

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from arena.errors import ArenaError
from arena.web.templating import page

log = logging.getLogger("arena.web")

Handler = Callable[[Request, Exception], Awaitable[Response]]

JSON_PREFIXES = ("/api/", "/docs", "/redoc", "/openapi.json", "/health", "/static/")


def wants_html(request: Request) -> bool:
    if request.url.path.startswith(JSON_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status: int, message: str | None = None) -> Response:
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    if message is None:
        message = {
            404: "There is no page at this address.",
            500: "Something went wrong on our side. Please try again in a moment.",
        }.get(status, title)
    return page(
        request, "error.html", {"status": status, "title": title, "message": message}, status
    )


def _wrap(original: Handler, describe: Callable[[Exception], tuple[int, str | None]]) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        if not wants_html(request):
            return await original(request, exc)
        status, message = describe(exc)
        if status >= 500:
            log.error("error page %s for %s", status, request.url.path, exc_info=exc)
        return error_page(request, status, message)

    return handler


def _http(exc: Exception) -> tuple[int, str | None]:
    assert isinstance(exc, StarletteHTTPException)
    return exc.status_code, None


def _arena(exc: Exception) -> tuple[int, str | None]:
    assert isinstance(exc, ArenaError)
    return exc.status, exc.message


def _unhandled(_: Exception) -> tuple[int, str | None]:
    return 500, None


def install_error_pages(app: FastAPI) -> None:
    """Call after `arena.errors.install_error_handlers`: wraps the handlers it installed."""
    for kind, describe in (
        (StarletteHTTPException, _http),
        (ArenaError, _arena),
        (Exception, _unhandled),
    ):
        original = cast(Handler, app.exception_handlers[kind])
        app.add_exception_handler(kind, _wrap(original, describe))
