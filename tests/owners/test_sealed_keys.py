"""A sealed owner API key that cannot be opened (ARENA_SECRET_KEY changed or rotated): logged,
the model leaves the pool, and no request to its endpoint is ever sent without the key."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select

from arena.crypto import UNREADABLE_SEALED, UnreadableKey, api_key_from_ref, seal_api_key
from arena.db import session_scope
from arena.models.service import OperatorModel, OwnerModel, add_operator_model, add_owner_model
from arena.models.tables import ModelEndpoint
from arena.owners.tables import Owner
from arena.settings import Settings
from serving.fakes import FakeModel, FakeServer
from serving.guard import GuardedClient
from tests.owners.test_owner_flow import ADMIN, new_owner, pool_names, probe_all, register, settled

OLD_SECRET = SecretStr("the-secret-before-rotation")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"allow_private_endpoints": True})


def test_a_key_sealed_under_one_secret_does_not_open_under_another(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ref = seal_api_key(OLD_SECRET, "sk-live-123")
    assert api_key_from_ref(OLD_SECRET, ref) == "sk-live-123"
    with caplog.at_level(logging.ERROR, "arena.crypto"), pytest.raises(UnreadableKey) as info:
        api_key_from_ref(SecretStr("test-secret-key"), ref)
    assert info.value.detail == UNREADABLE_SEALED == "API key cannot be decrypted"
    assert info.value.status == 503 and info.value.code == "model_unavailable"
    assert "sk-live-123" not in caplog.text and "cannot be opened" in caplog.text
    assert api_key_from_ref(OLD_SECRET, None) is None  # no key at all is not an error


def test_an_unset_key_variable_is_not_an_empty_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARENA_TEST_UNSET_KEY", raising=False)
    with pytest.raises(UnreadableKey) as info:
        api_key_from_ref(OLD_SECRET, "env:ARENA_TEST_UNSET_KEY")
    assert info.value.detail == "API key variable ARENA_TEST_UNSET_KEY is not set"
    monkeypatch.setenv("ARENA_TEST_UNSET_KEY", "sk-env")
    assert api_key_from_ref(OLD_SECRET, "env:ARENA_TEST_UNSET_KEY") == "sk-env"


@pytest.fixture
async def counted() -> AsyncIterator[FakeServer]:
    async with FakeServer(FakeModel(served_name="owner/model-7b")) as server:
        yield server


def seal_under_old_secret(app: FastAPI, name: str) -> None:
    with session_scope(app.state.sessionmaker) as session:
        model = session.scalars(select(ModelEndpoint).where(ModelEndpoint.name == name)).one()
        model.api_key_ref = seal_api_key(OLD_SECRET, "sk-owner-secret")


async def test_probe_takes_the_model_out_of_the_pool_without_a_request(
    app: FastAPI, client: httpx.AsyncClient, counted: FakeServer
) -> None:
    auth = await new_owner(client)
    model_id = await register(client, auth, counted.base_url)
    assert (await settled(client, model_id, auth))["status"] == "verified"
    r = await client.post(f"/api/v1/admin/models/{model_id}/approve", json={}, headers=ADMIN)
    assert r.status_code == 200
    await probe_all(app)
    assert "Acme-7B" in pool_names(app)

    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": [{"id": "owner/model-7b"}]})

    seal_under_old_secret(app, "Acme-7B")
    spy = GuardedClient(transport=httpx.MockTransport(handler))
    spy.guard = app.state.guarded_http.guard
    state = app.state
    from arena.models.probing import probe_once

    outcomes = await probe_once(state.sessionmaker, state.http, state.settings, guarded=spy)
    await spy.aclose()
    assert outcomes[model_id].ok is False
    assert outcomes[model_id].detail == "API key cannot be decrypted"
    assert seen == []
    model = (await client.get(f"/api/v1/models/{model_id}", headers=auth)).json()
    assert model["healthy"] is False and model["health_detail"] == "API key cannot be decrypted"
    assert model["status"] == "approved"  # ill health, not drift: a new key brings it back
    assert "Acme-7B" not in pool_names(app)


async def test_verification_with_an_unreadable_key_sends_nothing(
    app: FastAPI, client: httpx.AsyncClient, counted: FakeServer
) -> None:
    auth = await new_owner(client)
    model_id = await register(client, auth, counted.base_url)
    assert (await settled(client, model_id, auth))["status"] == "verified"
    sent = len(counted.requests)
    seal_under_old_secret(app, "Acme-7B")
    r = await client.post(f"/api/v1/models/{model_id}/verify", json={}, headers=auth)
    assert r.status_code == 202
    model = await settled(client, model_id, auth)
    assert model["status"] == "rejected"
    assert model["report"]["checks"] == [
        {"name": "api_key", "ok": False, "detail": "API key cannot be decrypted", "ms": 0.0}
    ]
    assert len(counted.requests) == sent
    # Sending the key again (sealed under the current secret) verifies it.
    r = await client.post(
        f"/api/v1/models/{model_id}/verify", json={"api_key": "sk-owner-secret"}, headers=auth
    )
    assert r.status_code == 202
    assert (await settled(client, model_id, auth))["status"] == "verified"


async def test_a_battle_never_sends_a_request_without_the_key(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Between a rotation and the next probe the model still looks healthy: the battle turn
    is refused with the unavailable-model 503 instead of going out unauthenticated."""
    alpha = FakeServer(FakeModel(served_name="alpha"))
    beta = FakeServer(FakeModel(served_name="beta"))
    with alpha, beta:
        with session_scope(app.state.sessionmaker) as session:
            owner = Owner(name="Acme", token_hash="x" * 64)
            session.add(owner)
            session.flush()
            spec = OwnerModel("Sealed-7B", "Acme", "open", alpha.base_url, "alpha")
            sealed = add_owner_model(session, owner.id, spec, seal_api_key(OLD_SECRET, "sk-alpha"))
            sealed.status, sealed.healthy = "approved", True
            add_operator_model(session, OperatorModel("Beta", beta.base_url, "beta")).healthy = True
        battle = await client.post("/api/v1/battles", json={})
        assert battle.status_code == 201
        battle_id = battle.json()["battle_id"]
        r = await client.post(f"/api/v1/battles/{battle_id}/messages", json={"content": "hi"})
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "model_unavailable"
        assert "Sealed" not in r.text and "Acme" not in r.text
        assert alpha.requests == [] and beta.requests == []
