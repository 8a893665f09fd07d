"""Request-scoped dependencies: settings, the database session, who is asking, limits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
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


async def decide_in_session(
    request: Request, fn: Callable[..., T], *args: Any
) -> tuple[T, Awaitable[None]]:
    """Like `run_in_session`, but hands back `fn`'s result as soon as `fn` returns, with an
    awaitable of the commit that follows. For writes whose outcome is settled before the
    commit (a conditional insert holding its row locks): the caller can go on at once and
    await the commit before it relies on the write being durable."""
    factory = request.app.state.sessionmaker
    loop = asyncio.get_running_loop()
    decided: asyncio.Future[T] = loop.create_future()

    def settle(result: T) -> None:
        if not decided.done():
            decided.set_result(result)

    def work() -> None:
        with session_scope(factory) as session:
            result = fn(session, *args)
            loop.call_soon_threadsafe(settle, result)

    committed = asyncio.ensure_future(anyio.to_thread.run_sync(work))
    either: list[asyncio.Future[Any]] = [decided, committed]
    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    if not decided.done():
        committed.result()  # fn failed: its error (the commit never ran)
        # fn returned and the commit finished before the result's callback ran
        await decided
    return decided.result(), committed


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
