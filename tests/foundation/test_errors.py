"""Every error, whatever raised it, leaves in the one envelope."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI


def assert_envelope(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"message", "type", "code"}
    for key in ("message", "type", "code"):
        assert isinstance(err[key], str) and err[key]
    return dict(err)


async def test_health(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_404_envelope(client: httpx.AsyncClient) -> None:
    err = assert_envelope(await client.get("/no/such/page"), 404)
    assert err["type"] == "not_found_error"


async def test_405_envelope(client: httpx.AsyncClient) -> None:
    err = assert_envelope(await client.delete("/health"), 405)
    assert err["type"] == "invalid_request_error"


async def test_422_envelope(app: FastAPI, client: httpx.AsyncClient) -> None:
    @app.get("/_probe/int/{n}")
    def probe(n: int) -> dict[str, int]:
        return {"n": n}

    err = assert_envelope(await client.get("/_probe/int/notanumber"), 422)
    assert err["code"] == "validation_error"
    assert "n" in err["message"]


async def test_500_envelope_hides_details(app: FastAPI) -> None:
    @app.get("/_probe/boom")
    def boom() -> None:
        raise RuntimeError("secret internal detail")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        err = assert_envelope(await c.get("/_probe/boom"), 500)
    assert "secret" not in err["message"]
    assert err["code"] == "internal_error"


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
async def test_openapi_served(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 200
