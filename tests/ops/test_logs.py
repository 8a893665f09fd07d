"""Log formats, the access log's client addresses, and `arena serve` writing them for real."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import httpx
import orjson
import pytest
from pydantic import SecretStr

from arena.crypto import keyed_hash
from arena.logs import AccessFilter, JsonFormatter, RequestIdFilter, TextFormatter, log_config
from arena.settings import Settings
from serving.threaded import free_port
from tests.replicas.support import SECRET, ArenaProcess, arena_env

KEY = SecretStr("logs-test-key")


def access_record(client_addr: str = "198.51.100.23:51234") -> logging.LogRecord:
    """A record as uvicorn's access logger makes it."""
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        (client_addr, "GET", "/api/v1/leaderboard?view=style", "1.1", 200),
        None,
    )


def test_json_lines_have_the_fields_extras_and_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "arena.x", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info()
        )
    record.request_id = "r-1"
    record.battle = {"id": 3, "path": Path("/tmp")}  # not JSON by itself: made a string
    line = orjson.loads(JsonFormatter().format(record))
    assert line["time"].endswith("+00:00")
    assert (line["level"], line["logger"], line["message"]) == ("ERROR", "arena.x", "failed here")
    assert line["request_id"] == "r-1"
    assert line["battle"] == {"id": 3, "path": "/tmp"}
    assert "ValueError: boom" in line["exc_info"]
    assert not {"args", "msg", "levelno", "pathname", "created"} & line.keys()


def test_text_lines_show_the_request_id_when_there_is_one() -> None:
    record = logging.LogRecord("arena", logging.INFO, __file__, 1, "hello", None, None)
    assert TextFormatter().format(record).endswith(" INFO    arena hello")
    RequestIdFilter().filter(record)  # outside a request: stays without one
    record.request_id = "abc"
    assert TextFormatter().format(record).endswith(" INFO    arena [abc] hello")


def test_hashed_access_log_prints_the_address_hash_never_the_address() -> None:
    record = access_record()
    assert AccessFilter("hashed", KEY).filter(record)
    digest = keyed_hash(KEY, "ip", "198.51.100.23")
    assert record.client == "ip:" + digest[:16]  # type: ignore[attr-defined]
    assert "198.51.100.23" not in record.getMessage()
    assert record.getMessage().startswith(f'ip:{digest[:16]} - "GET /api/v1/leaderboard')
    line = orjson.loads(JsonFormatter().format(record))
    assert line["client"] == "ip:" + digest[:16]
    assert (line["method"], line["status"], line["http_version"]) == ("GET", 200, "1.1")
    # IPv6 with its port, spelled two ways: one hash, the ip_hash prefix of clients.py.
    six = AccessFilter("hashed", KEY)
    assert six.client("2001:DB8::1:443") == six.client("2001:db8:0::1:8080")
    assert six.client("2001:db8::1:443") == "ip:" + keyed_hash(KEY, "ip", "2001:db8::/64")[:16]
    # Every address of one /64 is one address for limits.
    assert six.client("2001:db8::ffff:1:443") == six.client("2001:db8::1:443")


def test_raw_access_log_keeps_the_address_and_off_drops_the_record() -> None:
    raw = access_record()
    assert AccessFilter("raw").filter(raw)
    assert raw.getMessage().startswith("198.51.100.23:51234 - ")
    assert not AccessFilter("off").filter(access_record())
    with pytest.raises(ValueError, match="secret key"):
        AccessFilter("hashed")


def test_log_config_follows_the_settings() -> None:
    settings = Settings(log_format="JSON", log_level="Warning", access_log="raw")
    config = log_config(settings)
    assert config["formatters"]["default"]["()"] == "arena.logs.JsonFormatter"
    assert config["root"]["level"] == "WARNING"
    assert config["loggers"]["uvicorn.access"]["level"] == "INFO"
    assert config["filters"]["access"] == {"()": "arena.logs.AccessFilter", "mode": "raw"}
    text = log_config(Settings(secret_key=KEY))
    assert text["formatters"]["access"]["()"] == "arena.logs.TextFormatter"
    assert text["filters"]["access"]["secret_key"] == KEY
    with pytest.raises(ValueError, match="log_format"):
        Settings(log_format="xml")
    with pytest.raises(ValueError, match="access_log"):
        Settings(access_log="on")


def test_arena_serve_writes_json_lines_with_request_ids_and_hashed_clients(
    tmp_path: Path,
) -> None:
    env = arena_env(
        f"sqlite:///{tmp_path / 'arena.db'}",
        ARENA_LOG_FORMAT="json",
        ARENA_FORWARDED_ALLOW_IPS="127.0.0.1",
    )
    server = ArenaProcess(free_port(), env)
    try:
        ok = httpx.get(
            server.base + "/health",
            headers={"X-Request-ID": "ops-e2e-1", "X-Forwarded-For": "198.51.100.23"},
        )
        missing = httpx.get(server.base + "/api/v1/battles/x", headers={"X-Request-ID": "e2"})
        assert ok.headers["x-request-id"] == "ops-e2e-1"
        assert missing.status_code == 404 and missing.headers["x-request-id"] == "e2"
    finally:
        server.log.seek(0)
        output = server.log.read().decode()
        server.stop()
    lines = [orjson.loads(line) for line in output.splitlines() if line.strip()]  # all JSON
    assert any(line["logger"] == "uvicorn.error" for line in lines)
    access = {line.get("request_id"): line for line in lines if line["logger"] == "uvicorn.access"}
    secret = SecretStr(SECRET)
    forwarded = access["ops-e2e-1"]
    # The proxy (127.0.0.1) is trusted: the address counted is the forwarded one, hashed.
    assert forwarded["client"] == "ip:" + keyed_hash(secret, "ip", "198.51.100.23")[:16]
    assert (forwarded["method"], forwarded["path"], forwarded["status"]) == ("GET", "/health", 200)
    assert access["e2"]["client"] == "ip:" + keyed_hash(secret, "ip", "127.0.0.1")[:16]
    assert access["e2"]["status"] == 404
    for line in access.values():
        assert "198.51.100.23" not in str(line) and "127.0.0.1" not in str(line)


def test_arena_serve_without_access_log_writes_text(tmp_path: Path) -> None:
    env = arena_env(f"sqlite:///{tmp_path / 'arena.db'}", ARENA_ACCESS_LOG="off")
    server = ArenaProcess(free_port(), env)
    try:
        assert httpx.get(server.base + "/health", headers={"X-Request-ID": "t-1"}).is_success
    finally:
        server.log.seek(0)
        output = server.log.read().decode()
        server.stop()
    assert "INFO    uvicorn.error Application startup complete." in output
    assert "/health" not in output and "t-1" not in output
