"""The one error envelope: `{"error": {"message", "type", "code"}}`, built here and only here."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from arena.responses import FastJSONResponse

log = logging.getLogger("arena")

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
}


class ArenaError(Exception):
    """An error meant for the client; the message is shown as is."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.type = type or _TYPE_BY_STATUS.get(status, "api_error")
        self.headers = headers


def error_body(message: str, type: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "code": code}}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    type: str | None = None,
    headers: dict[str, str] | None = None,
) -> FastJSONResponse:
    kind = type or _TYPE_BY_STATUS.get(status, "api_error")
    return FastJSONResponse(error_body(message, kind, code), status_code=status, headers=headers)


def _code_for_status(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "http_error"


async def _arena_error(_: Request, exc: Exception) -> FastJSONResponse:
    assert isinstance(exc, ArenaError)
    return error_response(exc.status, exc.code, exc.message, type=exc.type, headers=exc.headers)


async def _http_error(_: Request, exc: Exception) -> FastJSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    code = "not_found" if exc.status_code == 404 else _code_for_status(exc.status_code)
    return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def _validation_error(_: Request, exc: Exception) -> FastJSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "validation_error", _describe_validation(exc))


async def _unhandled(request: Request, exc: Exception) -> FastJSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal server error", type="api_error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ArenaError, _arena_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unhandled)
