"""Turns left streaming by a process that died: after `ARENA_STALE_TURN_SECONDS` without a
finish, the turn counts as failed, so its battle can be retried with the same message and
voted on. Without this, a hard kill mid-stream leaves the battle stuck at 409 for good."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

import anyio
from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session, sessionmaker

from arena.battles.tables import BattleResponse, BattleTurn
from arena.db import session_scope, utcnow
from arena.settings import Settings

log = logging.getLogger("arena.battles")
INTERRUPTED = "the answer was interrupted; send the message again to retry"


def fail_stale_turns(session: Session, max_age: float) -> int:
    """Mark turns streaming for longer than `max_age` seconds (by their latest attempt's
    start) as failed; the number of turns changed."""
    cutoff = utcnow() - timedelta(seconds=max_age)
    recent = exists().where(
        BattleResponse.turn_id == BattleTurn.id, BattleResponse.started_at > cutoff
    )
    stale = list(
        session.scalars(select(BattleTurn.id).where(BattleTurn.status == "streaming", ~recent))
    )
    if not stale:
        return 0
    # The status condition again: a turn that finished meanwhile keeps its answers.
    session.execute(
        update(BattleResponse)
        .where(BattleResponse.turn_id.in_(stale), BattleResponse.status == "streaming")
        .values(status="failed", error=INTERRUPTED)
    )
    changed = session.execute(
        update(BattleTurn)
        .where(BattleTurn.id.in_(stale), BattleTurn.status == "streaming")
        .values(status="failed")
    )
    return int(getattr(changed, "rowcount", 0) or 0)


def recover_once(factory: sessionmaker[Session], settings: Settings) -> int:
    with session_scope(factory) as session:
        n = fail_stale_turns(session, settings.stale_turn_seconds)
    if n:
        log.warning("%d turn(s) left streaming by a stopped process marked failed", n)
    return n


async def stale_turn_loop(
    factory: sessionmaker[Session], settings: Settings, pause: Callable[[float], Awaitable[bool]]
) -> None:
    every = min(60.0, settings.stale_turn_seconds / 4)
    while True:
        try:
            await anyio.to_thread.run_sync(recover_once, factory, settings)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("stale turn recovery failed")
        if not await pause(every):
            return
