"""Logging for `arena serve` and `arena demo`: text for a console, JSON lines for production.

`log_config(settings)` is a `logging.config.dictConfig` dictionary handed to uvicorn, which
applies it in the server process and again in every worker (`--workers N`), so the app's
loggers (``arena``, ``serving``) and uvicorn's error and access logs share one format. Every
record carries the request id of the request it was emitted for (`RequestIdFilter`); the
access log's client address is hashed, printed or the log switched off (`ARENA_ACCESS_LOG`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import SecretStr

from arena.crypto import keyed_hash
from arena.requestid import current_request_id

if TYPE_CHECKING:
    from arena.settings import Settings

AccessMode = Literal["hashed", "raw", "off"]
# Hex digits of the address hash printed in the access log: the prefix of the `ip_hash`
# column of battles and votes, enough to find them, short enough to read.
ADDRESS_HASH_CHARS = 16

# Attributes every LogRecord has; anything else on a record was passed as `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "request_id",
    "color_message",  # uvicorn's ANSI copy of the message
}


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (None outside a request) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


class AccessFilter(logging.Filter):
    """uvicorn's access records as fields (client, method, path, http_version, status), with
    the client address replaced by a keyed hash unless the mode is ``raw``."""

    def __init__(self, mode: AccessMode = "hashed", secret_key: SecretStr | None = None) -> None:
        super().__init__()
        if mode == "hashed" and secret_key is None:
            raise ValueError("a hashed access log needs the secret key")
        self.mode = mode
        self.secret_key = secret_key

    def filter(self, record: logging.LogRecord) -> bool:
        if self.mode == "off":
            return False
        args = record.args
        # uvicorn: '%s - "%s %s HTTP/%s" %d' % (client_addr, method, path, http_version, status)
        if not isinstance(args, tuple) or len(args) != 5:
            return True
        client_addr, method, path, http_version, status = args
        client = self.client(str(client_addr))
        record.args = (client, method, path, http_version, status)
        record.client, record.method, record.path = client, method, path
        record.http_version, record.status = http_version, status
        return True

    def client(self, client_addr: str) -> str:
        if self.mode == "raw" or not client_addr:
            return client_addr or "-"
        from arena.clients import canonical_address, limit_address

        host, sep, port = client_addr.rpartition(":")
        host = host if sep and port.isdigit() else client_addr
        assert self.secret_key is not None
        digest = keyed_hash(self.secret_key, "ip", limit_address(canonical_address(host)))
        return "ip:" + digest[:ADDRESS_HASH_CHARS]


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, then any extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            out["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(out, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message`` for a person at a console."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name} "
        line += f"[{request_id}] " if request_id else ""
        line += record.getMessage()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def log_config(settings: Settings) -> dict[str, Any]:
    """The dictConfig for uvicorn's ``log_config`` (the access log is on unless ``off``)."""
    formatter = (
        "arena.logs.JsonFormatter"
        if settings.log_format == "json"
        else ("arena.logs.TextFormatter")
    )
    level = settings.log_level.upper()
    access: dict[str, Any] = {"()": "arena.logs.AccessFilter", "mode": settings.access_log}
    if settings.access_log == "hashed":
        access["secret_key"] = settings.secret_key
    return {
        "version": 1,
        "disable_existing_loggers": False,
        # uvicorn looks these two names up when it is told to colour its output.
        "formatters": {"default": {"()": formatter}, "access": {"()": formatter}},
        "filters": {"request_id": {"()": "arena.logs.RequestIdFilter"}, "access": access},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "filters": ["request_id", "access"],
                "stream": "ext://sys.stdout",
            },
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            # Its own switch (ARENA_ACCESS_LOG), so a quieter ARENA_LOG_LEVEL keeps it.
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
            # One line per model-server request, URL included: only when debugging.
            "httpx": {"level": "DEBUG" if level == "DEBUG" else "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }
