"""An owner's endpoint from registration to the battle pool, against the fake server on
loopback (ARENA_ALLOW_PRIVATE_ENDPOINTS=true): verification, approval, drift, retirement."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from arena.db import session_scope
from arena.models.probing import probe_once
from arena.models.service import battle_pool
from arena.models.tables import ModelEndpoint
from arena.settings import Settings
from serving.fakes import FakeModel, FakeServer
from serving.guard import GuardedClient

ADMIN = {"Authorization": "Bearer test-admin-token"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"allow_private_endpoints": True})


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    async with FakeServer(FakeModel(served_name="owner/model-7b")) as server:
        yield server


async def new_owner(client: httpx.AsyncClient) -> dict[str, str]:
    r = await client.post("/api/v1/owners", json={"name": "Acme", "email": "ml@acme.test"})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def register(
    client: httpx.AsyncClient, auth: dict[str, str], base_url: str, **fields: Any
) -> int:
    body = {
        "name": "Acme-7B",
        "organization": "Acme",
        "license": "open",
        "base_url": base_url,
        "api_model": "owner/model-7b",
        "api_key": "sk-owner-secret",
        **fields,
    }
    r = await client.post("/api/v1/models", json=body, headers=auth)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "verifying"
    model_id: int = r.json()["id"]
    return model_id


async def settled(client: httpx.AsyncClient, model_id: int, auth: dict[str, str]) -> dict[str, Any]:
    """The model once its background verification has finished."""
    for _ in range(600):
        r = await client.get(f"/api/v1/models/{model_id}", headers=auth)
        assert r.status_code == 200, r.text
        if r.json()["status"] != "verifying":
            body: dict[str, Any] = r.json()
            return body
        await asyncio.sleep(0.05)
    raise AssertionError("verification did not finish")


def pool_names(app: FastAPI) -> list[str]:
    with session_scope(app.state.sessionmaker) as session:
        return [m.name for m in battle_pool(session)]


async def probe_all(app: FastAPI) -> None:
    state = app.state
    await probe_once(state.sessionmaker, state.http, state.settings, guarded=state.guarded_http)


async def test_register_verify_approve_pool(
    app: FastAPI, client: httpx.AsyncClient, fake: FakeServer
) -> None:
    auth = await new_owner(client)
    model_id = await register(client, auth, fake.base_url)
    model = await settled(client, model_id, auth)
    assert model["status"] == "verified", model["report"]
    checks = model["report"]["checks"]
    assert [c["name"] for c in checks] == [
        "address",
        "models",
        "completion",
        "stream",
        "identity",
        "fingerprint",
    ]
    assert all(c["ok"] and isinstance(c["ms"], float) and c["detail"] for c in checks)
    assert model["verified_at"] is not None and model["approved_at"] is None
    # The key reached the endpoint, and never comes back.
    assert "sk-owner-secret" not in str(model)
    assert model["has_api_key"] is True
    assert "Acme-7B" not in pool_names(app)

    r = await client.post(f"/api/v1/admin/models/{model_id}/approve", json={}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and r.json()["approved_at"] is not None
    await probe_all(app)
    assert "Acme-7B" in pool_names(app)

    listed = (await client.get("/api/v1/models")).json()
    assert listed == [
        {"name": "Acme-7B", "organization": "Acme", "license": "open", "status": "approved"}
    ]

    r = await client.post(f"/api/v1/admin/models/{model_id}/retire", json={}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["status"] == "retired"
    assert "Acme-7B" not in pool_names(app)
    assert (await client.get("/api/v1/models")).json() == []
    r = await client.post(f"/api/v1/admin/models/{model_id}/retire", json={}, headers=ADMIN)
    assert r.status_code == 409
    r = await client.get(f"/api/v1/models/{model_id}", headers=auth)
    assert r.json()["status"] == "retired"  # kept, never deleted


async def test_api_key_sent_to_endpoint_and_stored_sealed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    seen: list[str | None] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(401, json={"error": {"message": "bad key"}})

    auth = await new_owner(client)
    mock = GuardedClient(transport=httpx.MockTransport(handler))
    mock.guard = app.state.guarded_http.guard
    await app.state.guarded_http.aclose()
    app.state.guarded_http = mock
    model_id = await register(client, auth, "http://127.0.0.1:9")
    model = await settled(client, model_id, auth)
    await mock.aclose()
    assert model["status"] == "rejected"
    assert seen and all(h == "Bearer sk-owner-secret" for h in seen)
    with session_scope(app.state.sessionmaker) as session:
        row = session.scalars(select(ModelEndpoint)).one()
        assert row.api_key_ref is not None and row.api_key_ref.startswith("enc:")
        assert "sk-owner-secret" not in row.api_key_ref


async def test_rejected_when_endpoint_does_not_serve_the_model(
    app: FastAPI, client: httpx.AsyncClient, fake: FakeServer
) -> None:
    auth = await new_owner(client)
    model_id = await register(client, auth, fake.base_url, api_model="someone/else")
    model = await settled(client, model_id, auth)
    assert model["status"] == "rejected"
    checks = {c["name"]: c for c in model["report"]["checks"]}
    assert checks["address"]["ok"]
    assert not checks["models"]["ok"] and "someone/else" in checks["models"]["detail"]
    assert not checks["completion"]["ok"]
    assert model["report"]["passed"] is False

    r = await client.post(f"/api/v1/admin/models/{model_id}/approve", json={}, headers=ADMIN)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "invalid_status"

    # The owner corrects the served name and asks again.
    r = await client.post(
        f"/api/v1/models/{model_id}/verify", json={"api_model": "owner/model-7b"}, headers=auth
    )
    assert r.status_code == 202 and r.json()["status"] == "verifying"
    assert (await settled(client, model_id, auth))["status"] == "verified"


async def test_unreachable_endpoint_is_rejected(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    auth = await new_owner(client)
    await asyncio.to_thread(fake.stop)
    model_id = await register(client, auth, fake.base_url)
    model = await settled(client, model_id, auth)
    assert model["status"] == "rejected"
    assert not model["report"]["checks"][1]["ok"]


async def test_drift_suspends_then_reverify_and_approve(
    app: FastAPI, client: httpx.AsyncClient, fake: FakeServer
) -> None:
    auth = await new_owner(client)
    model_id = await register(client, auth, fake.base_url)
    assert (await settled(client, model_id, auth))["status"] == "verified"
    r = await client.post(f"/api/v1/admin/models/{model_id}/approve", json={}, headers=ADMIN)
    assert r.status_code == 200

    # Down is ill health, not drift: out of the pool, still approved.
    fake.model.health_status = 503
    await probe_all(app)
    model = (await client.get(f"/api/v1/models/{model_id}", headers=auth)).json()
    assert model["status"] == "approved" and model["healthy"] is False
    assert "Acme-7B" not in pool_names(app)
    fake.model.health_status = 200
    await probe_all(app)
    assert "Acme-7B" in pool_names(app)

    # Serving something else is drift: suspended, with the reason.
    fake.model.served_name = "owner/model-7b-v2"
    await probe_all(app)
    model = (await client.get(f"/api/v1/models/{model_id}", headers=auth)).json()
    assert model["status"] == "suspended" and model["suspended_at"] is not None
    assert "owner/model-7b" in model["report"]["suspended_reason"]
    assert "owner/model-7b" in model["health_detail"]
    assert "Acme-7B" not in pool_names(app)
    r = await client.post(f"/api/v1/admin/models/{model_id}/approve", json={}, headers=ADMIN)
    assert r.status_code == 409  # verify again first

    r = await client.post(
        f"/api/v1/models/{model_id}/verify", json={"api_model": "owner/model-7b-v2"}, headers=auth
    )
    assert r.status_code == 202
    assert (await settled(client, model_id, auth))["status"] == "verified"
    r = await client.post(f"/api/v1/admin/models/{model_id}/approve", json={}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    await probe_all(app)
    assert "Acme-7B" in pool_names(app)


async def test_operator_models_never_drift(app: FastAPI, fake: FakeServer) -> None:
    from arena.models.service import OperatorModel, add_operator_model

    with session_scope(app.state.sessionmaker) as session:
        add_operator_model(session, OperatorModel("Op", fake.base_url, "owner/model-7b"))
    fake.model.served_name = "other"
    await probe_all(app)
    with session_scope(app.state.sessionmaker) as session:
        row = session.scalars(select(ModelEndpoint)).one()
        assert row.status == "approved" and row.healthy is False


async def test_probe_loop_feeds_the_operator_metrics(settings: Settings, fake: FakeServer) -> None:
    from arena.app import create_app
    from arena.db import make_engine, make_sessionmaker
    from arena.models.service import OperatorModel, add_operator_model

    engine = make_engine(settings.database_url)
    with session_scope(make_sessionmaker(engine)) as session:
        add_operator_model(session, OperatorModel("Up", fake.base_url, "owner/model-7b"))
        add_operator_model(session, OperatorModel("Down", "http://127.0.0.1:9", "owner/model-7b"))
    engine.dispose()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        get = app.state.metrics.registry.get_sample_value
        for _ in range(500):  # the first round starts with the app
            if all(
                get("arena_backend_healthy", {"endpoint": n}) is not None for n in ("Up", "Down")
            ):
                break
            await asyncio.sleep(0.02)
        assert get("arena_backend_healthy", {"endpoint": "Up"}) == 1
        assert get("arena_backend_healthy", {"endpoint": "Down"}) == 0
        assert get("arena_backend_probe_seconds_count", {"endpoint": "Up"}) == 1
