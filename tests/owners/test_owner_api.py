"""Owner accounts, model registration and the admin API: auth, validation, error envelopes.

The app runs with the SSRF guard on (the default); host names resolve through a stub, so
no test reaches the network.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from limits import parse
from sqlalchemy import select

from arena.app import create_app
from arena.db import session_scope
from arena.models.tables import ModelEndpoint
from arena.owners.tables import Owner
from arena.settings import Settings
from serving.guard import EndpointGuard, GuardedClient

ADMIN = {"Authorization": "Bearer test-admin-token"}
PUBLIC = "93.184.216.34"  # global, never connected to: verification runs on a stub


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, str]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "code"}
    assert all(isinstance(v, str) and v for v in body["error"].values())
    if code is not None:
        assert body["error"]["code"] == code
    return dict(body["error"])


@pytest.fixture(autouse=True)
async def offline(app: FastAPI) -> AsyncIterator[None]:
    """Names resolve through a stub; verification connects nowhere (refused at once)."""

    async def resolve(host: str, port: int) -> list[str]:
        table = {"models.acme.test": [PUBLIC], "internal.acme.test": ["10.1.2.3", PUBLIC]}
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    async def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("offline test", request=request)

    stub = GuardedClient(transport=httpx.MockTransport(refuse))
    stub.guard = EndpointGuard(resolver=resolve)
    real, app.state.guarded_http = app.state.guarded_http, stub
    yield
    await app.state.tasks.close()  # verifications in flight still use the stub
    app.state.guarded_http = real
    await stub.aclose()


async def owner(client: httpx.AsyncClient, name: str = "Acme") -> tuple[int, dict[str, str]]:
    r = await client.post("/api/v1/owners", json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()["owner_id"], {"Authorization": f"Bearer {r.json()['token']}"}


def model_body(**fields: Any) -> dict[str, Any]:
    return {
        "name": "Acme-7B",
        "organization": "Acme",
        "license": "open",
        "base_url": "https://models.acme.test/v1",
        "api_model": "acme/7b",
        **fields,
    }


async def register(client: httpx.AsyncClient, auth: dict[str, str], **fields: Any) -> int:
    r = await client.post("/api/v1/models", json=model_body(**fields), headers=auth)
    assert r.status_code == 202, r.text
    model_id: int = r.json()["id"]
    return model_id


# --- owners -------------------------------------------------------------------------------


async def test_create_owner_stores_only_the_token_hash(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    r = await client.post("/api/v1/owners", json={"name": " Acme ", "email": "ml@acme.test"})
    assert r.status_code == 201
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert set(body) == {"owner_id", "token"} and len(body["token"]) > 32
    with session_scope(app.state.sessionmaker) as session:
        row = session.get(Owner, body["owner_id"])
        assert row is not None and row.name == "Acme" and row.email == "ml@acme.test"
        assert row.token_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    second = (await client.post("/api/v1/owners", json={"name": "Acme"})).json()
    assert second["token"] != body["token"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x" * 201},
        {"name": "A", "email": "not-an-email"},
        {"name": "A", "extra": 1},
    ],
)
async def test_create_owner_validation(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    assert_error(await client.post("/api/v1/owners", json=body), 422, "validation_error")


async def test_owner_signups_are_rate_limited_per_address(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"rate_limit_owners": "2/hour"}))
    async with app.router.lifespan_context(app):

        def client_at(ip: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(ip, 5000))
            return httpx.AsyncClient(transport=transport, base_url="http://testserver")

        async with client_at("198.51.100.1") as one, client_at("198.51.100.2") as other:
            for _ in range(2):
                assert (await one.post("/api/v1/owners", json={"name": "a"})).status_code == 201
            r = await one.post("/api/v1/owners", json={"name": "a"})
            assert_error(r, 429, "rate_limited")
            assert int(r.headers["retry-after"]) >= 1
            assert (await other.post("/api/v1/owners", json={"name": "b"})).status_code == 201


# --- registration -----------------------------------------------------------------------


async def test_registrations_are_rate_limited_per_owner(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    app.state.limits.items["owners"] = parse("2/hour")
    _, auth = await owner(client)
    model_id = await register(client, auth)
    await register(client, auth, name="Acme-8B")
    r = await client.post("/api/v1/models", json=model_body(name="Acme-9B"), headers=auth)
    assert_error(r, 429, "rate_limited")
    r = await client.post(f"/api/v1/models/{model_id}/verify", json={}, headers=auth)
    assert_error(r, 429, "rate_limited")
    _, other = await owner(client, "Other")
    await register(client, other, name="Other-1B")


async def test_register_needs_an_owner_token(client: httpx.AsyncClient) -> None:
    err = assert_error(await client.post("/api/v1/models", json=model_body()), 401)
    assert err["type"] == "authentication_error"
    bad = {"Authorization": "Bearer nope"}
    assert_error(
        await client.post("/api/v1/models", json=model_body(), headers=bad), 401, "invalid_token"
    )
    r = await client.post("/api/v1/models", json=model_body(), headers=ADMIN)
    assert_error(r, 403, "owner_token_required")


async def test_register_and_read_back(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner_id, auth = await owner(client)
    model_id = await register(client, auth, api_key="sk-very-secret")
    r = await client.get(f"/api/v1/models/{model_id}", headers=auth)
    assert r.status_code == 200
    view = r.json()
    assert view["id"] == model_id and view["name"] == "Acme-7B" and view["owner_id"] == owner_id
    assert view["status"] in ("verifying", "rejected")
    assert view["source"] == "owner" and view["has_api_key"] is True
    assert "sk-very-secret" not in r.text and "api_key" not in view
    with session_scope(app.state.sessionmaker) as session:
        row = session.get(ModelEndpoint, model_id)
        assert row is not None and row.api_key_ref and row.api_key_ref.startswith("enc:")
        assert "sk-very-secret" not in row.api_key_ref


async def test_duplicate_name_conflicts(client: httpx.AsyncClient) -> None:
    _, auth = await owner(client)
    await register(client, auth)
    r = await client.post("/api/v1/models", json=model_body(name="acme-7b"), headers=auth)
    assert_error(r, 409, "model_name_taken")


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"license": "gpl"}, 422),
        ({"name": " "}, 422),
        ({"api_model": ""}, 422),
        ({"base_url": ""}, 422),
        ({"unknown": 1}, 422),
        ({"base_url": "ftp://models.acme.test"}, 400),
        ({"base_url": "file:///etc/passwd"}, 400),
        ({"base_url": "https://user:pw@models.acme.test"}, 400),
        ({"base_url": "https://models.acme.test/v1?x=1"}, 400),
        ({"base_url": "https://no-such-host.acme.test"}, 400),
        ({"base_url": "https://models.acme.test:99999"}, 400),
    ],
)
async def test_register_validation(
    client: httpx.AsyncClient, fields: dict[str, Any], status: int
) -> None:
    _, auth = await owner(client)
    r = await client.post("/api/v1/models", json=model_body(**fields), headers=auth)
    assert_error(r, status)


@pytest.mark.parametrize(
    ("aliases", "what"),
    [
        ([f"Alias{i}" for i in range(21)], "at most 20"),
        (["Acme", ""], "at least 2"),
        (["Acme", "   "], "at least 2"),
        (["A"], "at least 2"),
        (["x" * 65], "at most 64"),
        ("Acme", "valid list"),
        ([3], "valid string"),
    ],
)
async def test_register_refuses_bad_aliases(
    client: httpx.AsyncClient, aliases: Any, what: str
) -> None:
    _, auth = await owner(client)
    r = await client.post("/api/v1/models", json=model_body(aliases=aliases), headers=auth)
    error = assert_error(r, 422, "validation_error")
    assert "aliases" in error["message"] and what in error["message"]
    r = await client.post("/api/v1/models/1/verify", json={"aliases": aliases}, headers=auth)
    assert_error(r, 422, "validation_error")


async def test_owner_aliases_are_kept_and_shown(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, auth = await owner(client)
    aliases = [" Acme Research ", "acme research", "Roadrunner"] + [f"A{i:02d}" for i in range(17)]
    model_id = await register(client, auth, aliases=aliases)
    model = (await client.get(f"/api/v1/models/{model_id}", headers=auth)).json()
    assert model["owner_aliases"][:2] == ["Acme Research", "Roadrunner"]
    assert len(model["owner_aliases"]) == 19
    assert model["aliases"][:3] == ["7b", "Acme Research", "Roadrunner"]


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8000",
        "http://10.0.0.8/v1",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8000",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0x7f000001/",
        "http://2130706433/",
        "http://100.100.100.200/",
        "http://localhost:8000",
        "https://internal.acme.test",  # one private address among public ones
    ],
)
async def test_register_refuses_non_public_endpoints(
    app: FastAPI, client: httpx.AsyncClient, base_url: str
) -> None:
    _, auth = await owner(client)
    r = await client.post("/api/v1/models", json=model_body(base_url=base_url), headers=auth)
    err = assert_error(r, 400, "endpoint_not_allowed")
    assert "10.1.2.3" not in err["message"]  # resolved addresses of names are not echoed
    with session_scope(app.state.sessionmaker) as session:
        assert session.scalars(select(ModelEndpoint)).all() == []


# --- reading ------------------------------------------------------------------------------


async def test_read_model_auth(client: httpx.AsyncClient) -> None:
    _, auth = await owner(client)
    _, other = await owner(client, "Other")
    model_id = await register(client, auth)
    assert_error(await client.get(f"/api/v1/models/{model_id}"), 401, "missing_token")
    r = await client.get(f"/api/v1/models/{model_id}", headers={"Authorization": "Bearer x"})
    assert_error(r, 401, "invalid_token")
    r = await client.get(f"/api/v1/models/{model_id}", headers=other)
    assert_error(r, 403, "not_your_model")
    assert_error(await client.get("/api/v1/models/9999", headers=auth), 404, "model_not_found")
    assert (await client.get(f"/api/v1/models/{model_id}", headers=ADMIN)).status_code == 200
    r = await client.post(f"/api/v1/models/{model_id}/verify", json={}, headers=other)
    assert_error(r, 403, "not_your_model")


async def test_public_list_shows_only_approved_without_urls(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, auth = await owner(client)
    await register(client, auth)
    from arena.models.service import OperatorModel, add_operator_model

    with session_scope(app.state.sessionmaker) as session:
        add_operator_model(
            session, OperatorModel("Op", "http://10.0.0.5:8000", "op/1", organization="Ops")
        )
    r = await client.get("/api/v1/models")
    assert r.status_code == 200
    assert r.json() == [
        {"name": "Op", "organization": "Ops", "license": "open", "status": "approved"}
    ]
    assert "10.0.0.5" not in r.text


# --- admin --------------------------------------------------------------------------------


async def test_admin_token_checks(client: httpx.AsyncClient) -> None:
    _, auth = await owner(client)
    model_id = await register(client, auth)
    url = f"/api/v1/admin/models/{model_id}/approve"
    assert_error(await client.post(url, json={}), 401, "missing_token")
    wrong = {"Authorization": "Bearer test-admin-tokem"}
    assert_error(await client.post(url, json={}, headers=wrong), 401, "invalid_token")
    assert_error(await client.post(url, json={}, headers=auth), 403, "admin_required")
    assert_error(await client.get("/api/v1/admin/models", headers=auth), 403, "admin_required")
    # Not verified yet (verifying or rejected): approval refused.
    assert_error(await client.post(url, json={}, headers=ADMIN), 409, "invalid_status")
    r = await client.post("/api/v1/admin/models/9999/approve", json={}, headers=ADMIN)
    assert_error(r, 404, "model_not_found")
    r = await client.get("/api/v1/admin/models", headers=ADMIN)
    assert r.status_code == 200 and [m["id"] for m in r.json()] == [model_id]
    assert_error(await client.get("/api/v1/admin/models?status=bogus", headers=ADMIN), 400)


async def test_admin_api_disabled_without_admin_token(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"admin_token": None}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            for headers in ({}, ADMIN, {"Authorization": "Bearer "}):
                r = await c.post("/api/v1/admin/models/1/approve", json={}, headers=headers)
                err = assert_error(r, 403, "admin_disabled")
                assert "ARENA_ADMIN_TOKEN" in err["message"]
            # The admin token is not accepted as an owner token either.
            r = await c.get("/api/v1/models/1", headers=ADMIN)
            assert_error(r, 401, "invalid_token")


async def test_admin_retires_from_any_state(client: httpx.AsyncClient) -> None:
    _, auth = await owner(client)
    model_id = await register(client, auth)
    r = await client.post(f"/api/v1/admin/models/{model_id}/retire", json={}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["status"] == "retired"
    assert r.json()["retired_at"] is not None
    r = await client.post(f"/api/v1/models/{model_id}/verify", json={}, headers=auth)
    assert_error(r, 409, "invalid_status")


async def test_openapi_lists_owner_endpoints(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in (
        "/api/v1/owners",
        "/api/v1/models",
        "/api/v1/models/{model_id}",
        "/api/v1/admin/models/{model_id}/approve",
        "/api/v1/admin/models/{model_id}/retire",
    ):
        assert path in paths
