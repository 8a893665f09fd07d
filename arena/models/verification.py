"""Automatic verification of owner endpoints, run in the background after registration.

The first check is the SSRF guard's (`address`): an endpoint whose host is not public is
rejected without being contacted. The others are `serving.health.verify_endpoint`'s, run
through the guarded client, so every connection is checked again when it is opened.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
import httpx
import orjson
from sqlalchemy.orm import Session, sessionmaker

from arena.crypto import api_key_from_ref
from arena.db import session_scope
from arena.models import service
from arena.models.tables import ModelEndpoint
from arena.settings import Settings
from serving.client import Endpoint
from serving.guard import GuardedClient, UnsafeEndpoint
from serving.health import Check, verify_endpoint

log = logging.getLogger("arena.verification")


def _load(session: Session, settings: Settings, model_id: int) -> Endpoint | None:
    model = session.get(ModelEndpoint, model_id)
    if model is None or model.status != "verifying":
        return None
    key = api_key_from_ref(settings.secret_key, model.api_key_ref)
    return Endpoint(model.base_url, model.api_model, key)


async def address_check(client: GuardedClient, base_url: str) -> Check:
    started = time.monotonic()
    try:
        addresses = await client.guard.check_url(base_url)
    except UnsafeEndpoint as exc:
        ok, detail = False, str(exc)
    else:
        ok, detail = True, f"{len(addresses)} address(es), all allowed"
    return Check("address", ok, detail, round((time.monotonic() - started) * 1000, 1))


async def run_checks(client: GuardedClient, endpoint: Endpoint) -> list[dict[str, Any]]:
    checks = [await address_check(client, endpoint.base_url)]
    if checks[0].ok:
        checks.extend(await verify_endpoint(client, endpoint))
    return [check.as_dict() for check in checks]


async def verify_model(
    factory: sessionmaker[Session], client: GuardedClient, settings: Settings, model_id: int
) -> None:
    """Verify one model in `verifying` and store the report: verified or rejected."""

    def load() -> Endpoint | None:
        with session_scope(factory) as session:
            return _load(session, settings, model_id)

    endpoint = await anyio.to_thread.run_sync(load)
    if endpoint is None:
        return
    try:
        checks = await run_checks(client, endpoint)
    except Exception:
        # A bug here must not leave the model in `verifying` for ever.
        log.exception("verification of model %s failed", model_id)
        checks = [{"name": "verification", "ok": False, "detail": "internal error", "ms": 0.0}]

    def store() -> None:
        with session_scope(factory) as session:
            model = service.record_verification(session, model_id, checks)
            if model is not None:
                log.info("model %s is %s", model.name, model.status)

    await anyio.to_thread.run_sync(store)


async def serves_model(client: httpx.AsyncClient, endpoint: Endpoint) -> bool | None:
    """Does `/v1/models` list the endpoint's served model? None when it cannot be told
    (unreachable, an error status, not a model list): that is ill health, not drift."""
    try:
        response = await client.get(
            endpoint.url("/v1/models"), headers=endpoint.headers(), timeout=10.0
        )
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        payload = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        return None
    return any(isinstance(item, dict) and item.get("id") == endpoint.api_model for item in data)
