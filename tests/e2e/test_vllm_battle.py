"""Real battles end to end: the arena API in front of two CPU vLLM servers, down to what
happens to the vote when an answer names its own model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from arena.db import session_scope
from arena.models.service import add_operator_model, operator_model_from_fleet
from arena.votes.tables import Vote, VoteExclusion
from serving.testing import RunningFleet, shared_fleet
from tests.battles.support import answers, parse_sse, send

pytestmark = pytest.mark.vllm

QWEN = "Qwen2.5-Coder-0.5B-Instruct"
# Qwen's chat template puts this in when no system message is given.
QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


@pytest.fixture(scope="module")
def fleet() -> Iterator[RunningFleet]:
    with shared_fleet() as running:
        yield running


@pytest.fixture
def arena(fleet: RunningFleet, app: FastAPI) -> FastAPI:
    app.state.settings.max_tokens = 48
    app.state.settings.temperature = 0.0
    with session_scope(app.state.sessionmaker) as s:
        for entry in fleet.fleet.models:
            m = add_operator_model(s, operator_model_from_fleet(entry))
            m.healthy = True
    return app


def names_itself(fleet: RunningFleet, model: str, text: str) -> bool:
    """An oracle apart from arena.votes.identity: the fleet file's names, as plain words."""
    entry = fleet.entry(model)
    words = [entry.name, entry.organization, *entry.aliases]
    return any(w.lower() in text.lower() for w in words if w)


async def battle(client: httpx.AsyncClient, question: str) -> tuple[dict[str, str], Any, str]:
    r = await client.post("/api/v1/battles", json={})
    assert r.status_code == 201
    battle_id = r.json()["battle_id"]
    stream = await send(client, battle_id, question)
    assert stream.status_code == 200
    events = parse_sse(stream.text)
    assert events[-1] == "[DONE]"
    texts = answers(events)
    assert texts["A"].strip() and texts["B"].strip()
    view = (await client.get(f"/api/v1/battles/{battle_id}")).json()
    assert view["can_vote"] and view["revealed"] is None
    vote = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "tie"})
    assert vote.status_code == 200
    return texts, vote.json()["revealed"], stream.text + str(dict(stream.headers))


def stored_vote(app: FastAPI) -> tuple[bool, dict[str, str]]:
    with session_scope(app.state.sessionmaker) as s:
        vote = s.scalars(select(Vote).order_by(Vote.id.desc())).first()
        assert vote is not None
        stmt = select(VoteExclusion).where(VoteExclusion.vote_id == vote.id)
        return vote.included, {e.reason: e.detail for e in s.scalars(stmt)}


async def test_who_are_you_under_the_neutral_system_message(
    fleet: RunningFleet, arena: FastAPI, client: httpx.AsyncClient
) -> None:
    """The neutral system message keeps the templates' identities out; whatever each model
    says of itself decides the vote: named → kept but excluded, else counted."""
    texts, revealed, raw = await battle(client, "Who are you? Answer in one short sentence.")
    for entry in fleet.fleet.models:
        for leak in (entry.served_name, str(entry.port), "vllm", "chatcmpl", "fingerprint"):
            assert leak not in raw, leak
    assert {revealed["A"]["model"], revealed["B"]["model"]} == {e.name for e in fleet.fleet.models}
    named = [side for side in "AB" if names_itself(fleet, revealed[side]["model"], texts[side])]
    included, reasons = stored_vote(arena)
    if named:
        assert included is False and set(reasons) == {"identity_leak"}, (texts, reasons)
        assert all(f"side {side} named" in reasons["identity_leak"] for side in named)
    else:
        assert included is True and reasons == {}, (texts, reasons)


async def test_an_answer_naming_its_model_excludes_the_vote(
    fleet: RunningFleet, arena: FastAPI, client: httpx.AsyncClient
) -> None:
    # Qwen's own default system message: Qwen then says who it is, as it does out of the box.
    arena.state.settings.system_message = QWEN_DEFAULT_SYSTEM
    texts, revealed, _ = await battle(client, "Who are you?")
    qwen_side = "A" if revealed["A"]["model"] == QWEN else "B"
    assert "Qwen" in texts[qwen_side], texts
    included, reasons = stored_vote(arena)
    assert included is False and set(reasons) == {"identity_leak"}, (texts, reasons)
    assert f"side {qwen_side} named" in reasons["identity_leak"]


async def test_an_answer_without_names_counts(
    fleet: RunningFleet, arena: FastAPI, client: httpx.AsyncClient
) -> None:
    texts, revealed, _ = await battle(client, "What is 12 + 30? Reply with the number only.")
    assert not any(names_itself(fleet, revealed[s]["model"], texts[s]) for s in "AB"), texts
    assert stored_vote(arena) == (True, {})
