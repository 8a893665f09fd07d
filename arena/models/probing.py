"""Health of registered endpoints: probed at registration and periodically after; an
unhealthy endpoint leaves the battle pool until a probe finds it healthy again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from arena.crypto import api_key_from_ref
from arena.db import make_sessionmaker, session_scope, utcnow
from arena.models.service import suspend_for_drift
from arena.models.tables import ModelEndpoint
from arena.models.verification import serves_model
from arena.settings import Settings
from serving.client import Endpoint
from serving.guard import EndpointGuard, make_guarded_client
from serving.health import probe

log = logging.getLogger("arena.health")

PROBED_STATUSES = ("approved", "suspended", "verified")


@dataclass(frozen=True)
class Target:
    id: int
    base_url: str
    api_model: str
    api_key: str | None
    owner: bool = False  # owner endpoints are reached through the SSRF-guarded client
    approved: bool = False


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str
    drift: bool = False  # reachable, but no longer serving its model


def _targets(session: Session, settings: Settings, ids: list[int] | None) -> list[Target]:
    stmt = select(ModelEndpoint).where(ModelEndpoint.status.in_(PROBED_STATUSES))
    if ids is not None:
        stmt = select(ModelEndpoint).where(ModelEndpoint.id.in_(ids))
    return [
        Target(
            m.id,
            m.base_url,
            m.api_model,
            api_key_from_ref(settings.secret_key, m.api_key_ref),
            owner=m.source == "owner",
            approved=m.status == "approved",
        )
        for m in session.scalars(stmt)
    ]


async def probe_targets(
    client: httpx.AsyncClient, targets: list[Target], guarded: httpx.AsyncClient | None = None
) -> dict[int, Outcome]:
    async def one(t: Target) -> tuple[int, Outcome]:
        via = guarded if t.owner and guarded is not None else client
        endpoint = Endpoint(t.base_url, t.api_model, t.api_key)
        result = await probe(via, endpoint)
        drift = (
            t.owner and t.approved and not result.ok and await serves_model(via, endpoint) is False
        )
        return t.id, Outcome(result.ok, result.detail, drift)

    return dict(await asyncio.gather(*(one(t) for t in targets)))


def record(session: Session, outcomes: dict[int, Outcome]) -> None:
    now = utcnow()
    for model_id, outcome in outcomes.items():
        model = session.get(ModelEndpoint, model_id)
        if model is None:
            continue
        if model.healthy != outcome.ok:
            log.info(
                "model %s is now %s: %s",
                model.name,
                "healthy" if outcome.ok else "unhealthy",
                outcome.detail,
            )
        model.healthy = outcome.ok
        model.health_detail = outcome.detail[:500]
        model.health_checked_at = now
        if outcome.drift and model.source == "owner" and model.status == "approved":
            log.warning("model %s suspended: %s", model.name, outcome.detail)
            suspend_for_drift(model, outcome.detail)


async def probe_once(
    factory: sessionmaker[Session],
    client: httpx.AsyncClient,
    settings: Settings,
    ids: list[int] | None = None,
    guarded: httpx.AsyncClient | None = None,
) -> dict[int, Outcome]:
    with session_scope(factory) as session:
        targets = _targets(session, settings, ids)
    if guarded is None and any(t.owner for t in targets):
        guard = EndpointGuard(allow_private=settings.allow_private_endpoints)
        async with make_guarded_client(guard) as own:
            outcomes = await probe_targets(client, targets, own)
    else:
        outcomes = await probe_targets(client, targets, guarded)
    with session_scope(factory) as session:
        record(session, outcomes)
    return outcomes


async def health_loop(
    factory: sessionmaker[Session],
    client: httpx.AsyncClient,
    settings: Settings,
    guarded: httpx.AsyncClient | None = None,
    pause: Callable[[float], Awaitable[bool]] | None = None,
) -> None:
    """Probe every endpoint, then `pause` (False: the app is stopping) until the next round."""
    while True:
        try:
            await probe_once(factory, client, settings, guarded=guarded)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("health probe round failed")
        if pause is None:
            await asyncio.sleep(settings.health_interval_seconds)
        elif not await pause(settings.health_interval_seconds):
            return


def probe_now(settings: Settings, engine: Engine, model_id: int) -> Outcome:
    """One probe from a command-line process (no running event loop)."""
    from serving.client import make_http_client

    async def run() -> Outcome:
        async with make_http_client() as client:
            outcomes = await probe_once(make_sessionmaker(engine), client, settings, [model_id])
        return outcomes[model_id]

    return asyncio.run(run())
