"""The voter's journey through the API: ask, read two anonymous answers, vote, reveal."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from arena.db import session_scope
from arena.votes.tables import Vote, VoteExclusion
from tests.battles.support import Backends, answers, parse_sse, send, set_healthy


async def start(client: httpx.AsyncClient) -> str:
    r = await client.post("/api/v1/battles", json={})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["sides"] == ["A", "B"]
    return str(body["battle_id"])


async def test_full_battle(arena: FastAPI, client: httpx.AsyncClient, backends: Backends) -> None:
    battle_id = await start(client)
    r = await send(client, battle_id, "What is the capital of France?")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    assert events[-1] == "[DONE]"
    done = [e for e in events if isinstance(e, dict) and e.get("done")]
    assert sorted(e["side"] for e in done) == ["A", "B"]
    assert all(e["finish_reason"] == "stop" for e in done)
    got = answers(events)
    assert sorted(got.values()) == sorted([backends.alpha.model.answer, backends.beta.model.answer])
    # Both servers saw the same neutral system message and the question.
    for server in (backends.alpha, backends.beta):
        msgs = server.requests[-1]["messages"]
        assert msgs[0]["role"] == "system" and "helpful assistant" in msgs[0]["content"]
        assert msgs[-1] == {"role": "user", "content": "What is the capital of France?"}

    view = (await client.get(f"/api/v1/battles/{battle_id}")).json()
    assert view["can_vote"] and not view["voted"] and view["revealed"] is None
    assert view["turns"][0]["responses"]["A"]["content"] == got["A"]

    r = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "A"})
    assert r.status_code == 200, r.text
    revealed = r.json()["revealed"]
    names = {revealed["A"]["model"], revealed["B"]["model"]}
    assert names == {"Alpha-7B", "Beta-3B"}
    side_a_server = backends.by_name(revealed["A"]["model"])
    assert got["A"] == side_a_server.model.answer

    again = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "B"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_voted"
    view = (await client.get(f"/api/v1/battles/{battle_id}")).json()
    assert view["voted"] and view["winner"] == "A" and view["revealed"] == revealed
    with session_scope(arena.state.sessionmaker) as s:
        votes = s.scalars(select(Vote)).all()
        assert len(votes) == 1 and votes[0].included and votes[0].turns == 1
    prefs = (await client.get("/api/v1/exports/preferences", params={"format": "jsonl"})).json()
    assert prefs["prompt"] == "What is the capital of France?"
    assert prefs["chosen"] == got["A"] and prefs["rejected"] == got["B"]
    assert prefs["chosen_model"] == revealed["A"]["model"]


async def test_multi_turn_each_side_keeps_its_history(
    arena: FastAPI, client: httpx.AsyncClient, backends: Backends
) -> None:
    battle_id = await start(client)
    await send(client, battle_id, "first question")
    r = await send(client, battle_id, "second question")
    assert parse_sse(r.text)[-1] == "[DONE]"
    for server in (backends.alpha, backends.beta):
        msgs = server.requests[-1]["messages"]
        assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
        assert msgs[2]["content"] == server.model.answer  # its own earlier answer
        assert msgs[3]["content"] == "second question"
    r = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "tie"})
    assert r.status_code == 200
    with session_scope(arena.state.sessionmaker) as s:
        assert s.scalars(select(Vote)).one().turns == 2


async def test_answer_naming_itself_is_kept_but_excluded(
    arena: FastAPI, client: httpx.AsyncClient, backends: Backends
) -> None:
    backends.alpha.model.answer = "I am alpha, made by ALPHA LABS, happy to help."
    battle_id = await start(client)
    events = parse_sse((await send(client, battle_id, "who are you?")).text)
    assert "ALPHA LABS" in "".join(answers(events).values())  # shown as it is
    r = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "bothbad"})
    assert r.status_code == 200
    with session_scope(arena.state.sessionmaker) as s:
        vote = s.scalars(select(Vote)).one()
        assert not vote.included
        reasons = [e.reason for e in s.scalars(select(VoteExclusion))]
        assert reasons == ["identity_leak"]


async def test_vote_too_soon_after_answers_is_excluded(
    arena: FastAPI, client: httpx.AsyncClient
) -> None:
    arena.state.settings.min_read_seconds = 30
    battle_id = await start(client)
    await send(client, battle_id, "hello")
    r = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "B"})
    assert r.status_code == 200
    with session_scope(arena.state.sessionmaker) as s:
        assert [e.reason for e in s.scalars(select(VoteExclusion))] == ["too_fast"]
        assert s.scalars(select(Vote)).one().included is False


async def test_unhealthy_model_keeps_battle_intact(
    arena: FastAPI, client: httpx.AsyncClient
) -> None:
    battle_id = await start(client)
    await send(client, battle_id, "hello")
    set_healthy(arena, "Alpha-7B", False)
    r = await send(client, battle_id, "and again")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "model_unavailable"
    assert "Alpha" not in r.text
    view = (await client.get(f"/api/v1/battles/{battle_id}")).json()
    assert len(view["turns"]) == 1 and view["can_vote"]
    assert (
        await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "A"})
    ).status_code == 200
    # With one healthy model left there is no pair to draw.
    r = await client.post("/api/v1/battles", json={})
    assert r.status_code == 503 and r.json()["error"]["code"] == "no_models_available"
