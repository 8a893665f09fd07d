"""Endpoint probes and verification checks against the fake server."""

from __future__ import annotations

import httpx
import pytest

from serving.client import Endpoint, make_http_client
from serving.fakes import FakeModel, FakeServer, fake_transport
from serving.probes import passed, probe, verify_endpoint


async def test_probe_states(fake_server: FakeServer, http_client: httpx.AsyncClient) -> None:
    result = await probe(http_client, fake_server.endpoint())
    assert result.ok and result.detail == "ok" and result.latency_ms >= 0
    fake_server.model.health_status = 503
    result = await probe(http_client, fake_server.endpoint())
    assert not result.ok and "/health returned HTTP 503" in result.detail
    fake_server.model.health_status = None  # servers without /health are fine
    assert (await probe(http_client, fake_server.endpoint())).ok
    fake_server.model.list_model = False
    result = await probe(http_client, fake_server.endpoint())
    assert not result.ok and "does not list 'fake-model'" in result.detail


async def test_probe_unreachable(http_client: httpx.AsyncClient) -> None:
    result = await probe(http_client, Endpoint("http://127.0.0.1:9", "m"), request_timeout=1)
    assert not result.ok and result.detail.startswith("unreachable")


async def test_probe_bad_model_list() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/health":
            return httpx.Response(200)
        return httpx.Response(200, json={"models": "?"})

    async with make_http_client(transport=httpx.MockTransport(handler)) as client:
        result = await probe(client, Endpoint("http://x", "m"))
    assert not result.ok and result.detail == "/v1/models is not a model list"


async def test_verification_passes(fake_server: FakeServer, http_client: httpx.AsyncClient) -> None:
    checks = await verify_endpoint(http_client, fake_server.endpoint())
    assert [c.name for c in checks] == ["models", "completion", "stream"]
    assert passed(checks), checks
    assert "[DONE]" in checks[2].detail
    assert set(checks[0].as_dict()) == {"name", "ok", "detail", "ms"}


@pytest.mark.parametrize(
    ("model", "failing"),
    [
        (FakeModel(list_model=False), {"models"}),
        (FakeModel(status=500), {"completion", "stream"}),
        (FakeModel(fault="eof"), {"stream"}),
        (FakeModel(fault="garbage"), {"stream"}),
        (FakeModel(answer=" "), {"completion", "stream"}),
    ],
)
async def test_verification_names_the_failing_check(model: FakeModel, failing: set[str]) -> None:
    async with make_http_client(transport=fake_transport(model)) as client:
        checks = await verify_endpoint(client, Endpoint("http://owner.example", "fake-model"))
    assert {c.name for c in checks if not c.ok} == failing
    assert not passed(checks)
