"""Health of registered endpoints: probed at registration and periodically after; an
unhealthy endpoint leaves the battle pool until a probe finds it healthy again."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from arena.crypto import api_key_from_ref
from arena.db import make_sessionmaker, session_scope, utcnow
from arena.models.tables import ModelEndpoint
from arena.settings import Settings
from serving.health import probe_endpoint

log = logging.getLogger("arena.health")

PROBED_STATUSES = ("approved", "suspended", "verified")


@dataclass(frozen=True)
class Target:
    id: int
    base_url: str
    api_model: str
    api_key: str | None


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str


def _targets(session: Session, settings: Settings, ids: list[int] | None) -> list[Target]:
    stmt = select(ModelEndpoint).where(ModelEndpoint.status.in_(PROBED_STATUSES))
    if ids is not None:
        stmt = select(ModelEndpoint).where(ModelEndpoint.id.in_(ids))
    return [
        Target(m.id, m.base_url, m.api_model, api_key_from_ref(settings.secret_key, m.api_key_ref))
        for m in session.scalars(stmt)
    ]


async def probe_targets(client: httpx.AsyncClient, targets: list[Target]) -> dict[int, Outcome]:
    async def one(t: Target) -> tuple[int, Outcome]:
        result = await probe_endpoint(client, t.base_url, t.api_model, api_key=t.api_key)
        return t.id, Outcome(result.ok, result.detail)

    return dict(await asyncio.gather(*(one(t) for t in targets)))


def record(session: Session, outcomes: dict[int, Outcome]) -> None:
    now = utcnow()
    for model_id, outcome in outcomes.items():
        model = session.get(ModelEndpoint, model_id)
        if model is None:
            continue
        if model.healthy != outcome.ok:
            log.info("model %s is now %s: %s", model.name,
                     "healthy" if outcome.ok else "unhealthy", outcome.detail)
        model.healthy = outcome.ok
        model.health_detail = outcome.detail[:500]
        model.health_checked_at = now


async def probe_once(
    factory: sessionmaker[Session], client: httpx.AsyncClient, settings: Settings,
    ids: list[int] | None = None,
) -> dict[int, Outcome]:
    with session_scope(factory) as session:
        targets = _targets(session, settings, ids)
    outcomes = await probe_targets(client, targets)
    with session_scope(factory) as session:
        record(session, outcomes)
    return outcomes


async def health_loop(
    factory: sessionmaker[Session], client: httpx.AsyncClient, settings: Settings
) -> None:
    while True:
        try:
            await probe_once(factory, client, settings)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("health probe round failed")
        await asyncio.sleep(settings.health_interval_seconds)


def probe_now(settings: Settings, engine: Engine, model_id: int) -> Outcome:
    """One probe from a command-line process (no running event loop)."""
    from serving.client import make_http_client

    async def run() -> Outcome:
        async with make_http_client() as client:
            outcomes = await probe_once(make_sessionmaker(engine), client, settings, [model_id])
        return outcomes[model_id]

    return asyncio.run(run())
