"""Backends that fail: in-band errors for one side, retries, and votes refused until done."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.battles.support import Backends, answers, parse_sse, send


async def start(client: httpx.AsyncClient) -> str:
    return str((await client.post("/api/v1/battles", json={})).json()["battle_id"])


@pytest.mark.parametrize("fault", ["drop", "eof", "error", "stall", "garbage"])
async def test_one_side_failing_shows_in_band_and_blocks_the_vote(
    arena: FastAPI, client: httpx.AsyncClient, backends: Backends, fault: str
) -> None:
    backends.alpha.model.fault = fault  # type: ignore[assignment]
    battle_id = await start(client)
    r = await send(client, battle_id, "tell me something")
    assert r.status_code == 200
    events = parse_sse(r.text)
    assert events[-1] == "[DONE]"
    errors = [e for e in events if isinstance(e, dict) and "error" in e]
    dones = [e for e in events if isinstance(e, dict) and e.get("done")]
    assert len(errors) == 1 and len(dones) == 1
    assert errors[0]["side"] != dones[0]["side"]
    healthy_side = dones[0]["side"]
    assert answers(events)[healthy_side] == backends.beta.model.answer
    # The error says nothing about who failed.
    for secret in ("alpha", "Alpha", "fp_fake", "chatcmpl", str(backends.alpha.port)):
        assert secret not in r.text
    vote = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "A"})
    assert vote.status_code == 409 and vote.json()["error"]["code"] == "battle_not_ready"

    # A different message is refused; the same one retries both sides.
    other = await send(client, battle_id, "something else")
    assert other.status_code == 409 and other.json()["error"]["code"] == "retry_mismatch"
    backends.alpha.model.fault = None
    retry = await send(client, battle_id, "tell me something")
    assert parse_sse(retry.text)[-1] == "[DONE]"
    assert len([e for e in parse_sse(retry.text) if isinstance(e, dict) and e.get("done")]) == 2
    view = (await client.get(f"/api/v1/battles/{battle_id}")).json()
    assert len(view["turns"]) == 1 and view["can_vote"]
    vote = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "A"})
    assert vote.status_code == 200


async def test_http_500_backend(
    arena: FastAPI, client: httpx.AsyncClient, backends: Backends
) -> None:
    backends.beta.model.status = 500
    battle_id = await start(client)
    events = parse_sse((await send(client, battle_id, "hi")).text)
    errors = [e for e in events if isinstance(e, dict) and "error" in e]
    assert len(errors) == 1
    assert "beta" not in str(errors[0]).lower()
