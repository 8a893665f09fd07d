"""The anonymizing battle API: create, converse (SSE), read back."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from sse_starlette import EventSourceResponse

from arena.battles import service, turns
from arena.battles.schemas import BattleCreated, BattleView, MessageIn
from arena.battles.stream import TurnStream
from arena.battles.turns import SideResult, TurnPlan
from arena.battles.views import battle_view
from arena.clients import ensure_client, identify
from arena.deps import SettingsDep, hit_limits, known_client, run_in_session, staged_in_session

router = APIRouter(prefix="/api/v1", tags=["battles"])


@router.post("/battles", status_code=201, response_model=BattleCreated)
async def create_battle(request: Request, response: Response, settings: SettingsDep) -> Any:
    cid = ensure_client(request, response, settings)
    who = identify(request, settings, cid)
    await hit_limits(request, "battles", who)
    battle = await run_in_session(request, service.create_battle, who, settings.system_message)
    request.app.state.metrics.battles.inc()
    return {"battle_id": battle.id, "sides": ["A", "B"]}


@router.get("/battles/{battle_id}", response_model=BattleView)
async def get_battle(battle_id: str, request: Request) -> Any:
    return await run_in_session(request, battle_view, battle_id)


@router.post("/battles/{battle_id}/messages", response_class=EventSourceResponse)
async def send_message(
    battle_id: str, body: MessageIn, request: Request, settings: SettingsDep
) -> EventSourceResponse:
    who = known_client(request, settings)
    client = who.client_hash if who else None
    turns.check_message(settings, body.content)
    if who is not None:
        await hit_limits(request, "battles", who)
    stages = staged_in_session(request, turns.open_turn, settings, battle_id, body.content, client)
    try:
        plan: TurnPlan = await stages.next()
    except BaseException:
        await asyncio.gather(stages.committed, return_exceptions=True)
        raise
    state = request.app.state
    # Both model servers are asked now; the same worker thread writes the turn meanwhile.
    # Its outcome (a 409 when a concurrent message got there first) is known before its
    # commit, which only has to be done before the answers are stored.
    stream = TurnStream(
        (state.http, state.guarded_http),
        plan,
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
        metrics=state.metrics.serving,
    )
    try:
        turn_id: int = await stages.next()
    except BaseException:
        await stream.cancel()
        await asyncio.gather(stages.committed, return_exceptions=True)
        raise

    async def persist(results: dict[str, SideResult]) -> bool:
        await stages.committed
        return await run_in_session(request, turns.close_turn, plan, turn_id, results)

    return EventSourceResponse(stream.events(persist), sep="\n", ping=15)
