"""A model server killed (SIGKILL) or frozen (SIGSTOP) in the middle of its answer.

The other side's answer is stored whole, the battle cannot be voted on, and sending the same
message again retries the turn: as DESIGN.md has it, both sides are asked again (with the
same conversation), both answers replace the first ones, and the vote then counts once.
"""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest
from fastapi import FastAPI

from arena.leaderboard.loop import recompute_once
from arena.settings import Settings
from serving.client import make_http_client
from serving.fakes import FakeModel, FakeServer
from tests.faults.support import (
    Ledger,
    assert_envelope,
    assert_ledger,
    backend_process,
    register_models,
    snapshot_vote_ids_async,
    sse_events,
)

FAST = "Paris is the capital."
SLOW = " ".join(f"word{i}" for i in range(12))
MESSAGE = "What is the capital of France?"


async def short_read_timeout(app: FastAPI) -> None:
    """A frozen backend fails its side after 2 s instead of the minute the app allows."""
    await app.state.http.aclose()
    app.state.http = make_http_client(read=2.0)


@pytest.mark.parametrize("fault", ["killed", "frozen"])
async def test_a_backend_failing_mid_stream_is_retried_and_the_vote_counts_once(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, database_url: str, fault: str
) -> None:
    with (
        FakeServer(FakeModel(served_name="alpha-served", answer=FAST)) as alpha,
        backend_process("beta-served", SLOW, tokens_per_second=10) as beta,
    ):
        register_models(
            database_url,
            [
                ("Alpha-7B", alpha.base_url, "alpha-served"),
                ("Beta-3B", beta.base_url, "beta-served"),
            ],
        )
        await short_read_timeout(app)
        battle = (await client.post("/api/v1/battles", json={})).json()["battle_id"]
        url = f"/api/v1/battles/{battle}/messages"

        sent = asyncio.create_task(client.post(url, json={"content": MESSAGE}))
        # The role chunk and three words are out: the answer is under way.
        await asyncio.to_thread(beta.wait_chunks, beta.chunks + 4)
        if fault == "killed":
            beta.kill()
        else:
            beta.signal(signal.SIGSTOP)
        first = sse_events((await sent).text)

        assert first[-1] == "[DONE]"
        failed = [e for e in first if isinstance(e, dict) and "error" in e]
        done = [e for e in first if isinstance(e, dict) and e.get("done")]
        assert len(failed) == 1 and len(done) == 1, first
        broken, healthy = failed[0]["side"], done[0]["side"]
        streamed = "".join(
            e["delta"]
            for e in first
            if isinstance(e, dict) and e.get("side") == broken and "delta" in e
        )
        assert streamed == " ".join(SLOW.split()[:3])  # what arrived before the fault

        # The other side's answer is not lost: it is stored whole; the turn is not votable.
        view = (await client.get(f"/api/v1/battles/{battle}")).json()
        (turn,) = view["turns"]
        assert turn["status"] == "failed" and not view["can_vote"]
        assert turn["responses"][healthy] == {
            "content": FAST,
            "status": "done",
            "finish_reason": "stop",
            "error": None,
        }
        assert turn["responses"][broken]["status"] == "failed"
        refused = await client.post(f"/api/v1/battles/{battle}/vote", json={"winner": healthy})
        assert refused.status_code == 409
        assert_envelope(refused)
        assert refused.json()["error"]["code"] == "battle_not_ready"

        if fault == "killed":
            beta.start()  # the operator's supervisor brings it back, same port
        else:
            beta.signal(signal.SIGCONT)
        asked = len(alpha.requests)
        retry = sse_events((await client.post(url, json={"content": MESSAGE})).text)
        assert retry[-1] == "[DONE]"
        assert {e["side"] for e in retry if isinstance(e, dict) and e.get("done")} == {"A", "B"}
        # Both sides were asked again, with the same conversation as the first time.
        assert len(alpha.requests) == asked + 1
        assert alpha.requests[-1]["messages"] == alpha.requests[-2]["messages"]

        view = (await client.get(f"/api/v1/battles/{battle}")).json()
        (turn,) = view["turns"]
        assert turn["status"] == "done" and view["can_vote"]
        assert turn["responses"][healthy]["content"] == FAST
        assert turn["responses"][broken]["content"].strip() == SLOW

        ledger = Ledger()
        ledger.record(
            battle, await client.post(f"/api/v1/battles/{battle}/vote", json={"winner": broken})
        )
        again = await client.post(f"/api/v1/battles/{battle}/vote", json={"winner": healthy})
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_voted"
        stored = assert_ledger(database_url, ledger)
        assert len(stored) == 1

    assert await asyncio.to_thread(recompute_once, app.state.sessionmaker, settings) is not None
    assert await snapshot_vote_ids_async(client) == set(stored)
