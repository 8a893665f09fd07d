"""Client addresses behind a reverse proxy: X-Forwarded-For believed from trusted peers only.

The app runs wrapped exactly as `arena serve` wraps it (`uvicorn.Config(...).load()` with the
options of arena/server.py), so uvicorn's own proxy middleware decides what the app sees.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select

from arena.battles.tables import Battle
from arena.clients import limit_address
from arena.crypto import keyed_hash
from arena.db import session_scope
from arena.server import uvicorn_options
from arena.settings import Settings

PROXY = "10.0.0.5"
VOTER = "198.51.100.7"

Client = Callable[[str], httpx.AsyncClient]


@pytest.fixture
async def served(arena: FastAPI) -> AsyncIterator[Client]:
    """HTTP clients (from a given peer address) to the app as uvicorn would serve it."""
    options = {**uvicorn_options(arena.state.settings), "log_config": None}
    config = uvicorn.Config(arena, **options)
    config.load()
    opened: list[httpx.AsyncClient] = []

    def connect(peer: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=config.loaded_app, client=(peer, 40000))
        c = httpx.AsyncClient(
            transport=transport,
            base_url="http://testserver",
            headers={"Origin": "http://testserver"},
        )
        opened.append(c)
        return c

    yield connect
    for c in opened:
        await c.aclose()


async def counted_address_hash(app: FastAPI, client: httpx.AsyncClient, xff: str) -> str:
    """The address hash stored with a new battle created with this X-Forwarded-For."""
    r = await client.post("/api/v1/battles", json={}, headers={"X-Forwarded-For": xff})
    assert r.status_code == 201, r.text
    with session_scope(app.state.sessionmaker) as s:
        battle = s.scalars(select(Battle).where(Battle.id == r.json()["battle_id"])).one()
        return battle.ip_hash


def address_hash(settings: Settings, address: str) -> str:
    return keyed_hash(settings.secret_key, "ip", limit_address(address))


TRUSTED = "127.0.0.1, 10.0.0.0/8"
with_proxies = pytest.mark.parametrize("settings", [TRUSTED], indirect=True)


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The shared test settings, with ARENA_FORWARDED_ALLOW_IPS when parametrized."""
    value = getattr(request, "param", "")
    settings.forwarded_allow_ips = Settings(forwarded_allow_ips=value).forwarded_allow_ips
    return settings


def test_the_setting_parses_addresses_and_networks_and_refuses_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ARENA_FORWARDED_ALLOW_IPS", " 127.0.0.1, 10.0.0.0/8,::1,")
    got = Settings().forwarded_allow_ips
    assert [str(n) for n in got] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    for bad in ("*", "nginx", "10.0.0.0/33"):
        with pytest.raises(ValueError, match="is not an IP address or network"):
            Settings(forwarded_allow_ips=bad)


def test_uvicorn_trusts_no_proxy_unless_told() -> None:
    plain = uvicorn_options(Settings(secret_key="k"))
    assert plain["proxy_headers"] is False and "forwarded_allow_ips" not in plain
    told = uvicorn_options(Settings(secret_key="k", forwarded_allow_ips=TRUSTED))
    assert told["proxy_headers"] is True
    assert told["forwarded_allow_ips"] == ["127.0.0.1/32", "10.0.0.0/8"]


@with_proxies
async def test_a_trusted_proxy_gets_each_client_counted_under_its_own_address(
    arena: FastAPI, served: Client
) -> None:
    settings: Settings = arena.state.settings
    via_proxy = served(PROXY)
    got = await counted_address_hash(arena, via_proxy, VOTER)
    assert got == address_hash(settings, VOTER)
    other = await counted_address_hash(arena, via_proxy, "2001:DB8::7")
    assert other == address_hash(settings, "2001:db8::7")
    assert other == keyed_hash(settings.secret_key, "ip", "2001:db8::/64")
    # A client that sends its own X-Forwarded-For through a proxy that appends: the entry
    # the trusted proxy added (the rightmost untrusted one) counts, not the client's claim.
    appended = await counted_address_hash(arena, via_proxy, f"6.6.6.6, {VOTER}")
    assert appended == address_hash(settings, VOTER)


@with_proxies
async def test_a_peer_that_is_not_a_trusted_proxy_cannot_choose_its_address(
    arena: FastAPI, served: Client
) -> None:
    settings: Settings = arena.state.settings
    direct = served("203.0.113.50")
    got = await counted_address_hash(arena, direct, VOTER)
    assert got == address_hash(settings, "203.0.113.50")


async def test_without_the_setting_the_header_is_ignored_even_from_loopback(
    arena: FastAPI, served: Client
) -> None:
    settings: Settings = arena.state.settings
    for peer in ("127.0.0.1", PROXY):
        got = await counted_address_hash(arena, served(peer), VOTER)
        assert got == address_hash(settings, peer)
