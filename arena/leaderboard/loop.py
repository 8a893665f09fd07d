"""The background recompute: a new snapshot every ARENA_RECOMPUTE_SECONDS when votes moved.

With several API replicas on PostgreSQL only the holder of an advisory lock recomputes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import anyio
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from arena.db import session_scope
from arena.leaderboard.service import NotRateable, recompute
from arena.settings import Settings

log = logging.getLogger("arena.leaderboard")
LOCK_KEY = 0x6172656E61  # "arena"


def recompute_once(factory: sessionmaker[Session], settings: Settings) -> int | None:
    with session_scope(factory) as session:
        if session.get_bind().dialect.name == "postgresql":
            got = session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
            if not got.scalar():
                return None
        try:
            snap = recompute(session, settings.anchor())
        except NotRateable as exc:
            log.info("leaderboard not updated: %s", exc)
            return None
        return snap.id if snap else None


async def recompute_loop(
    factory: sessionmaker[Session], settings: Settings, pause: Callable[[float], Awaitable[bool]]
) -> None:
    while True:
        try:
            await anyio.to_thread.run_sync(recompute_once, factory, settings)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("leaderboard recompute failed")
        if not await pause(settings.recompute_seconds):
            return
