"""Request-scoped dependencies: settings, the database session, who is asking, limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
