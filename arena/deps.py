"""Request-scoped dependencies: settings, the database session, who is asking, limits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator, Iterator
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from arena.clients import ClientIdentity, client_id, identify
from arena.db import session_scope
from arena.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, committed at the boundary; services only add and flush."""
    with session_scope(request.app.state.sessionmaker) as session:
        yield session


T = TypeVar("T")

SettingsDep = Annotated[Settings, Depends(get_settings)]


async def run_in_session(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(session, *args)` in a worker thread inside one committed unit of work."""
    factory = request.app.state.sessionmaker

    def work() -> T:
        with session_scope(factory) as session:
            return fn(session, *args)

    return await anyio.to_thread.run_sync(work)


class Stages:
    """The values a generator run by `staged_in_session` yields and returns, each handed to
    the event loop as soon as it is made, and the commit that follows them."""

    def __init__(self) -> None:
        self._values: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue()
        self.committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def next(self) -> Any:
        ok, value = await self._values.get()
        if not ok:
            raise value
        return value


def staged_in_session(
    request: Request, fn: Callable[..., Generator[Any, None, Any]], *args: Any
) -> Stages:
    """Run the generator `fn(session, *args)` in a worker thread inside one committed unit
    of work, handing each value it yields (and then its return value) to the caller at once
    (`await stages.next()`), before the commit (`await stages.committed`).

    For a message: the plan is read and handed over, so the model servers are asked while
    the same thread writes the turn; the turn's outcome (or its 409) is known before its
    commit, which only has to be done before the answers are stored."""
    factory = request.app.state.sessionmaker
    loop = asyncio.get_running_loop()
    stages = Stages()

    def hand(ok: bool, value: Any) -> None:
        loop.call_soon_threadsafe(stages._values.put_nowait, (ok, value))

    def work() -> None:
        try:
            with session_scope(factory) as session:
                steps = fn(session, *args)
                while True:
                    try:
                        hand(True, next(steps))
                    except StopIteration as stop:
                        hand(True, stop.value)
                        break
        except BaseException as exc:
            hand(False, exc)
            raise

    def settle(task: asyncio.Future[None]) -> None:
        if task.cancelled():
            stages.committed.cancel()
        elif task.exception() is not None:
            stages.committed.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            stages.committed.set_result(None)

    asyncio.ensure_future(anyio.to_thread.run_sync(work)).add_done_callback(settle)
    return stages


def known_client(request: Request, settings: Settings) -> ClientIdentity | None:
    """The caller's identity if it sends a valid client cookie; no cookie is set here."""
    cid = client_id(request, settings)
    return identify(request, settings, cid) if cid else None


async def hit_limits(request: Request, kind: str, who: ClientIdentity) -> None:
    """Count one `kind` request against the client and, unless trusted, its address."""
    identities = [f"client:{who.client_hash}"]
    if not who.trusted:
        identities.append(f"ip:{who.ip_hash}")
    await request.app.state.limits.hit(kind, *identities)
