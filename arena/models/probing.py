"""Probing registered endpoints and applying what the probes find, through `lifecycle`.

Two jobs share the wire-level checks of :mod:`serving.probes`:

- :func:`verify_model` runs once an owner registers (or re-verifies) an endpoint: the SSRF
  guard's `address` check, then `models`, `completion`, `stream`, `identity`, `fingerprint`;
  the result moves the model to `verified` or `rejected`, the names the identity probes gave
  join its aliases and the fingerprint is stored for the periodic canaries (`canaries`).
- :func:`probe_loop` probes every approved, suspended or verified endpoint periodically: an
  unhealthy one leaves the battle pool until a probe finds it healthy again; an approved
  owner endpoint that no longer serves its model (drift) is suspended. An endpoint whose
  stored API key cannot be read is unhealthy without any request being sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import httpx
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from arena.crypto import UnreadableKey, api_key_from_ref
from arena.db import make_sessionmaker, session_scope, utcnow
from arena.models import lifecycle
from arena.models.canaries import report_summary, store_fingerprint
from arena.models.service import identity_aliases
from arena.models.tables import ModelEndpoint
from arena.settings import Settings
from serving.client import Endpoint
from serving.guard import EndpointGuard, GuardedClient, make_guarded_client
from serving.metrics import ServingMetrics
from serving.probes import Check, ProbeResult, Verification, probe, serves_model, verify_guarded

log = logging.getLogger("arena.probing")

PROBED_STATUSES = ("approved", "suspended", "verified")


def _endpoint(settings: Settings, model: ModelEndpoint) -> Endpoint | UnreadableKey:
    """The endpoint to send to, or why nothing may be sent (never a request without its key)."""
    try:
        key = api_key_from_ref(settings.secret_key, model.api_key_ref)
    except UnreadableKey as exc:
        return exc
    return Endpoint(model.base_url, model.api_model, key)


def _findings(verification: Verification) -> dict[str, object]:
    identity = verification.identity
    fingerprint = verification.fingerprint
    return {
        "identity": identity.as_dict() if identity is not None else None,
        "fingerprint": report_summary(fingerprint) if fingerprint is not None else None,
        "canaries": None,
    }


# --- verification -------------------------------------------------------------------------


async def verify_model(
    factory: sessionmaker[Session], client: GuardedClient, settings: Settings, model_id: int
) -> None:
    """Verify one model in `verifying` and store the report: verified or rejected."""

    def load() -> Endpoint | UnreadableKey | None:
        with session_scope(factory) as session:
            model = session.get(ModelEndpoint, model_id)
            if model is None or model.status != "verifying":
                return None
            return _endpoint(settings, model)

    endpoint = await anyio.to_thread.run_sync(load)
    if endpoint is None:
        return
    if isinstance(endpoint, UnreadableKey):
        verification = Verification([Check("api_key", False, endpoint.detail, 0.0)])
    else:
        try:
            verification = await verify_guarded(client, endpoint)
        except Exception:
            # A bug here must not leave the model in `verifying` for ever.
            log.exception("verification of model %s failed", model_id)
            verification = Verification([Check("verification", False, "internal error", 0.0)])
    checks = [check.as_dict() for check in verification.checks]

    def store() -> None:
        with session_scope(factory) as session:
            model = lifecycle.record_verification(
                session, model_id, checks, _findings(verification)
            )
            if model is None:
                return
            names = verification.identity.names if verification.identity else []
            model.aliases = identity_aliases(model, names)
            if verification.fingerprint is not None:
                store_fingerprint(session, model.id, verification.fingerprint)
            log.info("model %s is %s", model.name, model.status)

    await anyio.to_thread.run_sync(store)


# --- periodic probes ----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    id: int
    name: str
    endpoint: Endpoint | UnreadableKey
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
            m.name,
            _endpoint(settings, m),
            owner=m.source == "owner",
            approved=m.status == "approved",
        )
        for m in session.scalars(stmt)
    ]


async def probe_targets(
    client: httpx.AsyncClient,
    targets: list[Target],
    guarded: httpx.AsyncClient | None = None,
    metrics: ServingMetrics | None = None,
) -> dict[int, Outcome]:
    async def one(t: Target) -> tuple[int, Outcome]:
        via = guarded if t.owner and guarded is not None else client
        if isinstance(t.endpoint, UnreadableKey):
            result = ProbeResult(False, t.endpoint.detail, 0.0)
            if metrics is not None:
                metrics.observe_probe(t.name, result)
            return t.id, Outcome(False, result.detail)
        result = await probe(via, t.endpoint)
        if metrics is not None:
            metrics.observe_probe(t.name, result)
        drift = (
            t.owner
            and t.approved
            and not result.ok
            and await serves_model(via, t.endpoint) is False
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
            lifecycle.suspend_for_drift(model, outcome.detail)


async def probe_once(
    factory: sessionmaker[Session],
    client: httpx.AsyncClient,
    settings: Settings,
    ids: list[int] | None = None,
    guarded: httpx.AsyncClient | None = None,
    metrics: ServingMetrics | None = None,
) -> dict[int, Outcome]:
    with session_scope(factory) as session:
        targets = _targets(session, settings, ids)
    if guarded is None and any(t.owner for t in targets):
        guard = EndpointGuard(allow_private=settings.allow_private_endpoints)
        async with make_guarded_client(guard) as own:
            outcomes = await probe_targets(client, targets, own, metrics)
    else:
        outcomes = await probe_targets(client, targets, guarded, metrics)
    with session_scope(factory) as session:
        record(session, outcomes)
    return outcomes


async def probe_loop(
    factory: sessionmaker[Session],
    client: httpx.AsyncClient,
    settings: Settings,
    guarded: httpx.AsyncClient | None = None,
    pause: Callable[[float], Awaitable[bool]] | None = None,
    metrics: ServingMetrics | None = None,
) -> None:
    """Probe every endpoint, then `pause` (False: the app is stopping) until the next round."""
    while True:
        try:
            await probe_once(factory, client, settings, guarded=guarded, metrics=metrics)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("probe round failed")
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
