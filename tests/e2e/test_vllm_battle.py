"""One real battle end to end: the arena API in front of two CPU vLLM servers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from arena.db import session_scope
from arena.models.service import add_operator_model, operator_model_from_fleet
from serving.testing import RunningFleet, shared_fleet
from tests.battles.support import answers, parse_sse, send

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def fleet() -> Iterator[RunningFleet]:
    with shared_fleet() as running:
        yield running


async def test_real_battle(fleet: RunningFleet, app: FastAPI, client: httpx.AsyncClient) -> None:
    app.state.settings.max_tokens = 48
    app.state.settings.temperature = 0.0
    with session_scope(app.state.sessionmaker) as s:
        for entry in fleet.fleet.models:
            m = add_operator_model(s, operator_model_from_fleet(entry))
            m.healthy = True
    r = await client.post("/api/v1/battles", json={})
    assert r.status_code == 201
    battle_id = r.json()["battle_id"]
    # A question whose honest answer would name the model: the neutral system message
    # must keep the chat templates' own identities out.
    stream = await send(client, battle_id, "Who are you? Answer in one short sentence.")
    assert stream.status_code == 200
    events = parse_sse(stream.text)
    assert events[-1] == "[DONE]"
    texts = answers(events)
    assert texts["A"].strip() and texts["B"].strip()
    raw = stream.text + str(dict(stream.headers))
    for entry in fleet.fleet.models:
        for leak in (entry.served_name, str(entry.port), "vllm", "chatcmpl", "fingerprint"):
            assert leak not in raw, leak
    view = (await client.get(f"/api/v1/battles/{battle_id}")).json()
    assert view["can_vote"] and view["revealed"] is None
    vote = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "tie"})
    assert vote.status_code == 200
    revealed = vote.json()["revealed"]
    assert {revealed["A"]["model"], revealed["B"]["model"]} == {e.name for e in fleet.fleet.models}
