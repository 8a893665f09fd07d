"""The one error envelope: `{"error": {"message", "type", "code"}}`, built here and only here."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from arena.db import OutOfRange
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
    507: "service_unavailable_error",
}

# Database trouble a client can wait out (a restart, a lost connection, a busy or read-only
# file, an exhausted pool) is 503, a full disk 507: both in the envelope, never a 500, and
# nothing was committed. Other database errors stay 500s: they are bugs.
_SQLITE_FULL = 13
_SQLITE_TRANSIENT = {5, 6, 8, 10, 14, 15}  # BUSY, LOCKED, READONLY, IOERR, CANTOPEN, PROTOCOL
_PG_FULL = "53100"
# connection exception, transaction rollback, insufficient resources, object not in
# prerequisite state (lock not available), operator intervention (shutdown, cancel)
_PG_TRANSIENT_CLASSES = ("08", "40", "53", "55", "57")


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1)
    type: str = Field(min_length=1)
    code: str = Field(min_length=1)


class ErrorEnvelope(BaseModel):
    """Every error response, documented as each operation's `default` response."""

    model_config = ConfigDict(extra="forbid")
    error: ErrorDetail


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


def database_problem(exc: BaseException) -> str | None:
    """ "full", "unavailable", or None for a database error that is not the client's to wait out."""
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection free in time
        return "unavailable"
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    sqlite_code = getattr(exc.orig, "sqlite_errorcode", None)
    if sqlite_code is not None:
        primary = sqlite_code & 0xFF
        if primary == _SQLITE_FULL:
            return "full"
        return "unavailable" if primary in _SQLITE_TRANSIENT else None
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate == _PG_FULL:
        return "full"
    if exc.connection_invalidated:
        return "unavailable"
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) and (
        sqlstate is None or sqlstate[:2] in _PG_TRANSIENT_CLASSES
    ):
        return "unavailable"
    return None


async def _out_of_range(request: Request, exc: Exception) -> Response:
    handler = request.app.exception_handlers[ArenaError]
    message = "a number in the request is out of range (at most 9223372036854775807)"
    response: Response = await handler(request, ArenaError(422, "value_out_of_range", message))
    return response


async def _database_error(request: Request, exc: Exception) -> Response:
    problem = database_problem(exc)
    if problem is None:
        raise exc  # on to the 500 handler
    log.warning(
        "database %s on %s %s: %s",
        problem,
        request.method,
        request.url.path,
        str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
    )
    if problem == "full":
        error = ArenaError(
            507, "storage_full", "the database has no space left; nothing was saved, try later"
        )
    else:
        error = ArenaError(
            503,
            "database_unavailable",
            "the database is unavailable right now; nothing was saved, try again shortly",
            headers={"Retry-After": "2"},
        )
    # Through the handler installed for ArenaError, so pages get their HTML error page.
    handler = request.app.exception_handlers[ArenaError]
    response: Response = await handler(request, error)
    return response


async def _unhandled(request: Request, exc: Exception) -> FastJSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal server error", type="api_error")


def install_error_handlers(app: FastAPI) -> None:
    """The handlers, and the envelope in the OpenAPI schema: routes included after this
    document it as their `default` response (which also replaces FastAPI's own 422 body)."""
    app.router.responses = {
        **app.router.responses,
        "default": {"model": ErrorEnvelope, "description": "An error, in the one envelope"},
    }
    app.add_exception_handler(ArenaError, _arena_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OutOfRange, _out_of_range)
    app.add_exception_handler(sa_exc.DBAPIError, _database_error)
    app.add_exception_handler(sa_exc.TimeoutError, _database_error)
    app.add_exception_handler(Exception, _unhandled)
