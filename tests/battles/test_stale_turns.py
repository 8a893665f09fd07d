"""A turn left streaming by a process that died is failed after a while and can be retried."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update

from arena.battles.recovery import INTERRUPTED, fail_stale_turns, recover_once
from arena.battles.tables import BattleResponse, BattleTurn
from arena.db import session_scope, utcnow
from tests.battles.support import answers, parse_sse, send


def _freeze_as_streaming(app: FastAPI, battle_id: str, age: float) -> int:
    """Make the battle's turn look as a killed process left it: streaming, started `age` ago."""
    started = utcnow() - timedelta(seconds=age)
    with session_scope(app.state.sessionmaker) as s:
        turn_id = s.scalars(select(BattleTurn.id).where(BattleTurn.battle_id == battle_id)).one()
        s.execute(update(BattleTurn).where(BattleTurn.id == turn_id).values(status="streaming"))
        s.execute(
            update(BattleResponse)
            .where(BattleResponse.turn_id == turn_id)
            .values(status="streaming", started_at=started, content="half an ans")
        )
    return turn_id


async def test_a_stale_streaming_turn_is_failed_then_retried_and_voted(
    arena: FastAPI, client: httpx.AsyncClient
) -> None:
    battle_id = (await client.post("/api/v1/battles", json={})).json()["battle_id"]
    assert (await send(client, battle_id, "What is the capital of France?")).status_code == 200
    turn_id = _freeze_as_streaming(arena, battle_id, age=3600)

    stuck = await send(client, battle_id, "What is the capital of France?")
    assert stuck.status_code == 409 and stuck.json()["error"]["code"] == "turn_in_progress"
    vote = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "A"})
    assert vote.status_code == 409

    assert recover_once(arena.state.sessionmaker, arena.state.settings) == 1
    with session_scope(arena.state.sessionmaker) as s:
        assert s.get(BattleTurn, turn_id).status == "failed"  # type: ignore[union-attr]
        errors = s.scalars(select(BattleResponse.error).where(BattleResponse.turn_id == turn_id))
        assert set(errors) == {INTERRUPTED}

    retried = await send(client, battle_id, "What is the capital of France?")
    assert retried.status_code == 200
    assert all(answers(parse_sse(retried.text)).values())
    vote = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "A"})
    assert vote.status_code == 200, vote.text


async def test_a_recent_streaming_turn_and_finished_turns_are_left_alone(
    arena: FastAPI, client: httpx.AsyncClient
) -> None:
    done = (await client.post("/api/v1/battles", json={})).json()["battle_id"]
    assert (await send(client, done, "Hello there")).status_code == 200
    live = (await client.post("/api/v1/battles", json={})).json()["battle_id"]
    assert (await send(client, live, "Hello again")).status_code == 200
    live_turn = _freeze_as_streaming(arena, live, age=5)
    with session_scope(arena.state.sessionmaker) as s:
        assert fail_stale_turns(s, max_age=900) == 0
    with session_scope(arena.state.sessionmaker) as s:
        assert s.get(BattleTurn, live_turn).status == "streaming"  # type: ignore[union-attr]
        statuses = s.scalars(select(BattleTurn.status).where(BattleTurn.battle_id == done)).all()
        assert statuses == ["done"]
