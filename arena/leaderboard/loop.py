"""The background recompute: a new snapshot every ARENA_RECOMPUTE_SECONDS when votes moved.

Every API process (uvicorn worker, replica) runs this loop, but the arena as a whole makes at
most one snapshot per interval: a round first takes a lock (a PostgreSQL advisory lock, or a
file lock beside a SQLite database) and then, holding it, skips when the latest snapshot —
whoever made it — is younger than the interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path

import anyio
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from arena.db import session_scope, utcnow
from arena.leaderboard.arrays import VoteCache
from arena.leaderboard.digest import Digests
from arena.leaderboard.service import NotRateable, recompute
from arena.leaderboard.tables import LeaderboardSnapshot
from arena.settings import Settings

log = logging.getLogger("arena.leaderboard")
LOCK_KEY = 0x6172656E61  # "arena"
LOCK_SUFFIX = ".recompute.lock"


def recompute_once(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    min_age: float | None = None,
    digests: Digests | None = None,
    cache: VoteCache | None = None,
) -> int | None:
    """One recompute under the arena-wide lock; the new snapshot's id, or None.

    With ``min_age`` (the loop's interval), nothing is done while the latest snapshot is
    younger than that; without it (a forced recompute) only the lock is honoured.
    """
    with _file_lock(factory) as held:
        if not held:
            return None
        with session_scope(factory) as session:
            if session.get_bind().dialect.name == "postgresql":
                got = session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
                if not got.scalar():
                    return None
            if min_age is not None and _younger_than(session, min_age):
                return None
            try:
                snap = recompute(
                    session,
                    settings.anchor(),
                    prior=settings.rating_prior or None,
                    digests=digests,
                    cache=cache,
                )
            except NotRateable as exc:
                log.info("leaderboard not updated: %s", exc)
                return None
            return snap.id if snap else None


def _younger_than(session: Session, seconds: float) -> bool:
    latest: datetime | None = session.scalar(select(func.max(LeaderboardSnapshot.computed_at)))
    if latest is None:
        return False
    # Another replica's clock may run a little ahead: a snapshot "from the future" is recent.
    age = (utcnow() - latest).total_seconds()
    return -seconds < age < seconds


@contextlib.contextmanager
def _file_lock(factory: sessionmaker[Session]) -> Iterator[bool]:
    """Held (True) or not (False) without waiting; always True where there is no file."""
    url = getattr(factory.kw.get("bind"), "url", None)
    if (
        url is None
        or url.get_backend_name() != "sqlite"
        or url.database in (None, "", ":memory:")
        or url.query.get("mode") == "memory"
    ):
        yield True  # PostgreSQL has its advisory lock; in-memory SQLite has one process
        return
    path = Path(url.database)
    with open(path.with_name(path.name + LOCK_SUFFIX), "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


async def recompute_loop(
    factory: sessionmaker[Session], settings: Settings, pause: Callable[[float], Awaitable[bool]]
) -> None:
    # The previous digests' hash states and the votes read before, so a vote set that only
    # appends hashes and reads only its tail.
    digests = Digests()
    cache = VoteCache()
    while True:
        try:
            await anyio.to_thread.run_sync(
                lambda: recompute_once(
                    factory,
                    settings,
                    min_age=settings.recompute_seconds,
                    digests=digests,
                    cache=cache,
                )
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("leaderboard recompute failed")
        if not await pause(settings.recompute_seconds):
            return
