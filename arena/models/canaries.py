"""Fingerprints in the database, and the periodic canaries that compare an approved owner
endpoint with the fingerprint it was verified with.

Every ``ARENA_CANARY_INTERVAL_SECONDS`` each approved, healthy owner endpoint is asked its
canaries again (as recorded: same prompts, seed and max_tokens, temperature 0). When a
strict majority no longer match (:mod:`serving.fingerprint` says how answers are compared),
the canaries are asked once more right away, and only a second majority mismatch suspends
the model, with the expected and received answers and their similarity in its report. A
failed request is ill health (the probe loop's business), never drift.

Rounds are claimed per fingerprint with a compare-and-set on ``checked_at``, so several API
replicas ask each endpoint once per interval between them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

import anyio
import httpx
from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from arena.crypto import UnreadableKey, api_key_from_ref
from arena.db import session_scope, utcnow
from arena.models import lifecycle
from arena.models.tables import EndpointFingerprint, ModelEndpoint
from arena.settings import Settings
from serving.client import BackendError, Endpoint
from serving.fingerprint import Fingerprint, Verdict, ask_all, compare, read_listing

log = logging.getLogger("arena.canaries")

# Rounds start this many times per interval, so an endpoint is asked at most a quarter of
# an interval late whenever it was verified.
TICKS_PER_INTERVAL = 4


def store_fingerprint(
    session: Session, model_id: int, fingerprint: Fingerprint
) -> EndpointFingerprint:
    now = utcnow()
    row = EndpointFingerprint(
        model_id=model_id,
        created_at=now,
        listing=dict(fingerprint.listing),
        canaries=fingerprint.canaries_as_dicts(),
        seed=fingerprint.seed,
        max_tokens=fingerprint.max_tokens,
        checked_at=now,  # it was just asked: the first round is one interval away
        last_check={},
    )
    session.add(row)
    session.flush()
    return row


def report_summary(fingerprint: Fingerprint) -> dict[str, Any]:
    """What the owner's report shows of a fingerprint: listing, seed, canary digests."""
    return {
        "listing": dict(fingerprint.listing),
        "seed": fingerprint.seed,
        "max_tokens": fingerprint.max_tokens,
        "canaries": [
            {"prompt": c.prompt, "digest": c.digest, "answer": c.answer[:300]}
            for c in fingerprint.canaries
        ],
    }


def latest_fingerprint(session: Session, model_id: int) -> EndpointFingerprint | None:
    stmt = (
        select(EndpointFingerprint)
        .where(EndpointFingerprint.model_id == model_id)
        .order_by(EndpointFingerprint.id.desc())
        .limit(1)
    )
    return session.scalar(stmt)


def _as_fingerprint(row: EndpointFingerprint) -> Fingerprint:
    return Fingerprint.from_stored(row.listing, row.canaries, row.seed, row.max_tokens)


@dataclass(frozen=True)
class Due:
    fingerprint_id: int
    model_id: int
    name: str
    endpoint: Endpoint
    fingerprint: Fingerprint


def claim_due(session: Session, settings: Settings, now: datetime) -> list[Due]:
    """Approved, healthy owner endpoints whose newest fingerprint was last asked at least an
    interval ago; each claimed by setting ``checked_at`` (one replica wins it)."""
    cutoff = now - timedelta(seconds=settings.canary_interval_seconds)
    newest = (
        select(func.max(EndpointFingerprint.id))
        .group_by(EndpointFingerprint.model_id)
        .scalar_subquery()
    )
    stmt = (
        select(EndpointFingerprint, ModelEndpoint)
        .join(ModelEndpoint, ModelEndpoint.id == EndpointFingerprint.model_id)
        .where(
            EndpointFingerprint.id.in_(newest),
            ModelEndpoint.status == "approved",
            ModelEndpoint.source == "owner",
            ModelEndpoint.healthy.is_(True),
            or_(EndpointFingerprint.checked_at.is_(None), EndpointFingerprint.checked_at <= cutoff),
        )
        .order_by(EndpointFingerprint.id)
    )
    due: list[Due] = []
    for row, model in session.execute(stmt).all():
        try:
            key = api_key_from_ref(settings.secret_key, model.api_key_ref)
        except UnreadableKey:
            continue  # out of the pool already (the probe says why); nothing to compare
        claim = (
            update(EndpointFingerprint)
            # `== None` renders IS NULL: the claim is on the value this replica read.
            .where(
                EndpointFingerprint.id == row.id, EndpointFingerprint.checked_at == row.checked_at
            )
            .values(checked_at=now)
            .execution_options(synchronize_session=False)
        )
        if cast("CursorResult[Any]", session.execute(claim)).rowcount != 1:
            continue  # another replica took it
        endpoint = Endpoint(model.base_url, model.api_model, key)
        due.append(Due(row.id, model.id, model.name, endpoint, _as_fingerprint(row)))
    return due


@dataclass(frozen=True)
class CanaryOutcome:
    result: Literal["matched", "drifted", "error"]
    detail: str
    evidence: dict[str, Any]


async def check_one(client: httpx.AsyncClient, due: Due) -> CanaryOutcome:
    """Ask the canaries; on a majority mismatch ask again before calling it drift."""
    try:
        listing = await read_listing(client, due.endpoint)
        verdict: Verdict = compare(
            due.fingerprint, await ask_all(client, due.endpoint, due.fingerprint), listing
        )
        first = verdict.summary()
        if verdict.drifted:
            again = await ask_all(client, due.endpoint, due.fingerprint)
            verdict = compare(due.fingerprint, again, listing)
    except BackendError as exc:
        return CanaryOutcome("error", f"canaries not answered: {exc.message}", {})
    except httpx.HTTPError as exc:
        return CanaryOutcome("error", f"canaries not answered: {type(exc).__name__}", {})
    evidence = verdict.evidence()
    if verdict.drifted:
        evidence["first_round"] = first
        return CanaryOutcome("drifted", verdict.summary(), evidence)
    return CanaryOutcome("matched", verdict.summary(), evidence)


def record_round(session: Session, due: Due, outcome: CanaryOutcome, checked_at: datetime) -> None:
    row = session.get(EndpointFingerprint, due.fingerprint_id)
    model = session.get(ModelEndpoint, due.model_id)
    if row is None or model is None:
        return
    summary = {
        "checked_at": checked_at.isoformat(),
        "result": outcome.result,
        "detail": outcome.detail,
    }
    row.last_check = {**summary, **outcome.evidence}
    if model.status != "approved":
        return  # suspended or retired while the canaries were asked
    model.report = {**(model.report or {}), "canaries": summary}
    if outcome.result == "drifted":
        log.warning("model %s suspended: %s", model.name, outcome.detail)
        lifecycle.suspend_for_drift(
            model, f"canaries: {outcome.detail}", evidence={**summary, **outcome.evidence}
        )
        model.health_detail = f"suspended: {outcome.detail}"[:500]


async def canary_round(
    factory: sessionmaker[Session],
    client: httpx.AsyncClient,
    settings: Settings,
    *,
    now: datetime | None = None,
) -> dict[int, CanaryOutcome]:
    """One round over every due endpoint (``now`` decides which are due); by model id.
    ``client`` is the SSRF-guarded one: every fingerprinted endpoint is an owner's."""
    checked_at = now or utcnow()

    def claim() -> list[Due]:
        with session_scope(factory) as session:
            return claim_due(session, settings, checked_at)

    due = await anyio.to_thread.run_sync(claim)
    if not due:
        return {}
    outcomes = await asyncio.gather(*(check_one(client, d) for d in due))

    def store() -> None:
        with session_scope(factory) as session:
            for d, outcome in zip(due, outcomes, strict=True):
                record_round(session, d, outcome, checked_at)

    await anyio.to_thread.run_sync(store)
    return {d.model_id: o for d, o in zip(due, outcomes, strict=True)}


async def canary_loop(
    factory: sessionmaker[Session],
    client: httpx.AsyncClient,
    settings: Settings,
    pause: Callable[[float], Awaitable[bool]],
) -> None:
    """Rounds a few times per interval (only due endpoints are asked) until the app stops."""
    while True:
        if not await pause(settings.canary_interval_seconds / TICKS_PER_INTERVAL):
            return
        try:
            await canary_round(factory, client, settings)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("canary round failed")
