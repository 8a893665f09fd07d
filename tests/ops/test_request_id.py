"""A request id: kept or made, echoed to the caller, in every log line, sent to model servers."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import httpx
import orjson
import pytest
from fastapi import FastAPI

from arena.logs import JsonFormatter, RequestIdFilter
from arena.requestid import accept_or_new, current_request_id
from tests.battles.support import Backends, parse_sse, send

HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The ``arena`` logger's records as JSON lines, through the production filter and
    formatter (the handler `arena serve` installs, minus the stream it writes to)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("arena")
    logger.addHandler(handler)
    try:
        yield out
    finally:
        logger.removeHandler(handler)


def json_lines(out: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def upstream_ids(backends: Backends) -> dict[str, list[str]]:
    """The X-Request-ID of every chat request each fake server received, by served name."""
    return {
        server.model.served_name: [h.get("x-request-id", "") for h in server.model.headers]
        for server in (backends.alpha, backends.beta)
    }


@pytest.mark.parametrize(
    "raw",
    [b"abc", b"0f7e6c2a-9b1d-4e55-8a10-1c2d3e4f5a6b", b"nginx.7f3a_x", b"a" * 64],
)
def test_a_short_safe_token_is_kept(raw: bytes) -> None:
    assert accept_or_new(raw) == raw.decode()


@pytest.mark.parametrize(
    "raw", [None, b"", b" ", b"a" * 65, b"two words", b"<script>", b"id\xff", b"a/b", b"x;y=1"]
)
def test_anything_else_is_replaced_by_a_new_id(raw: bytes | None) -> None:
    new = accept_or_new(raw)
    assert HEX32.fullmatch(new)
    assert new != accept_or_new(raw)


async def test_a_battle_turn_carries_the_id_to_both_model_servers(
    arena: FastAPI, client: httpx.AsyncClient, backends: Backends
) -> None:
    created = await client.post("/api/v1/battles", json={}, headers={"X-Request-ID": "new-1"})
    assert created.status_code == 201
    assert created.headers["x-request-id"] == "new-1"
    battle_id = created.json()["battle_id"]

    r = await client.post(
        f"/api/v1/battles/{battle_id}/messages",
        json={"content": "Capital of France?"},
        headers={"X-Request-ID": "turn-7f3a"},
    )
    assert r.status_code == 200 and parse_sse(r.text)[-1] == "[DONE]"
    assert r.headers["x-request-id"] == "turn-7f3a"
    vote = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "tie"})
    served = {"Alpha-7B": "alpha-served", "Beta-3B": "beta-served"}
    side_of = {served[v["model"]]: side for side, v in vote.json()["revealed"].items()}
    # Each server got the turn's id with its own side, on its only chat request.
    assert upstream_ids(backends) == {name: [f"turn-7f3a-{side}"] for name, side in side_of.items()}
    # Nothing of it in the stream the voter reads.
    assert "turn-7f3a" not in r.text


async def test_without_a_usable_header_each_request_gets_its_own_id(
    arena: FastAPI, client: httpx.AsyncClient, backends: Backends
) -> None:
    battle_id = (await client.post("/api/v1/battles", json={})).json()["battle_id"]
    r = await client.post(
        f"/api/v1/battles/{battle_id}/messages",
        json={"content": "Capital of France?"},
        headers={"X-Request-ID": "not a token"},
    )
    rid = r.headers["x-request-id"]
    assert HEX32.fullmatch(rid)
    got = sorted(ids[0] for ids in upstream_ids(backends).values())
    assert got == [f"{rid}-A", f"{rid}-B"]
    other = await client.get("/health")
    assert HEX32.fullmatch(other.headers["x-request-id"])
    assert other.headers["x-request-id"] != rid
    # Error responses carry it too.
    missing = await client.get("/api/v1/battles/nope", headers={"X-Request-ID": "e-1"})
    assert missing.status_code == 404 and missing.headers["x-request-id"] == "e-1"
    assert current_request_id() is None  # nothing outlives the request


async def test_log_lines_of_a_request_carry_its_id(
    arena: FastAPI, client: httpx.AsyncClient, backends: Backends, json_log: io.StringIO
) -> None:
    backends.alpha.model.fault = "error"
    backends.beta.model.fault = "error"
    battle_id = (await client.post("/api/v1/battles", json={})).json()["battle_id"]
    r = await send(client, battle_id, "Capital of France?")
    rid = r.headers["x-request-id"]
    failed = [line for line in json_lines(json_log) if "failed" in str(line["message"])]
    # Both sides failed, each logged once by the stream, with this request's id.
    assert len(failed) == 2
    for line in failed:
        assert line["request_id"] == rid
        assert line["level"] == "WARNING" and line["logger"] == "arena.battles"
    logging.getLogger("arena").warning("outside any request")
    last = json_lines(json_log)[-1]
    assert last["message"] == "outside any request" and "request_id" not in last
