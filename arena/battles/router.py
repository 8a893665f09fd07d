"""The anonymizing battle API: create, converse (SSE), read back, vote."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session
from sse_starlette import EventSourceResponse

from arena.battles import service
from arena.battles.schemas import BattleCreated, BattleView, MessageIn, VoteIn, VoteOut
from arena.battles.service import SideResult, TurnPlan
from arena.battles.stream import stream_turn
from arena.battles.views import battle_view
from arena.clients import ClientIdentity, client_id, ensure_client, identify
from arena.deps import SettingsDep, run_in_session
from arena.errors import ArenaError
from arena.votes.service import cast_vote

router = APIRouter(prefix="/api/v1", tags=["battles"])


async def _limit(request: Request, kind: str, who: ClientIdentity) -> None:
    identities = [f"client:{who.client_hash}"]
    if not who.trusted:
        identities.append(f"ip:{who.ip_hash}")
    await request.app.state.limits.hit(kind, *identities)


def _identity(request: Request, settings: SettingsDep) -> ClientIdentity | None:
    cid = client_id(request, settings)
    return identify(request, settings, cid) if cid else None


@router.post("/battles", status_code=201, response_model=BattleCreated)
async def create_battle(request: Request, response: Response, settings: SettingsDep) -> Any:
    cid = ensure_client(request, response, settings)
    who = identify(request, settings, cid)
    await _limit(request, "battles", who)
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
    who = _identity(request, settings)

    def begin(session: Session) -> TurnPlan:
        client = who.client_hash if who else "-"
        return service.open_turn(session, settings, battle_id, body.content, client)

    service.check_message(settings, body.content)
    if who is not None:
        await _limit(request, "battles", who)
    plan = await run_in_session(request, begin)

    async def persist(results: dict[str, SideResult]) -> bool:
        return await run_in_session(request, service.close_turn, plan, results)

    state = request.app.state
    events = stream_turn(
        (state.http, state.guarded_http),
        plan,
        persist,
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
        metrics=state.metrics.serving,
    )
    return EventSourceResponse(events, sep="\n", ping=15)


@router.post("/battles/{battle_id}/vote", response_model=VoteOut)
async def vote(battle_id: str, body: VoteIn, request: Request, settings: SettingsDep) -> Any:
    who = _identity(request, settings)
    if who is None:
        raise ArenaError(403, "not_your_battle", "this battle belongs to another client")
    await _limit(request, "votes", who)

    def work(session: Session) -> dict[str, Any]:
        cast = cast_vote(session, settings, battle_id, body.winner, who)
        return {"vote_id": cast.vote.id, "revealed": cast.revealed, "included": cast.vote.included}

    result = await run_in_session(request, work)
    request.app.state.metrics.votes.labels(included=str(result.pop("included")).lower()).inc()
    return result
