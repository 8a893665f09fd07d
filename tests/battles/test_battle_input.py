"""Bad input: clear errors in the envelope, battle state intact."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.battles.support import send


async def start(client: httpx.AsyncClient) -> str:
    return str((await client.post("/api/v1/battles", json={})).json()["battle_id"])


@pytest.mark.parametrize("bad_id", ["nope", "0" * 32, "../../etc/passwd", "a" * 300])
async def test_unknown_battle(arena: FastAPI, client: httpx.AsyncClient, bad_id: str) -> None:
    for method, path, body in (
        ("GET", f"/api/v1/battles/{bad_id}", None),
        ("POST", f"/api/v1/battles/{bad_id}/vote", {"winner": "A"}),
        ("POST", f"/api/v1/battles/{bad_id}/messages", {"content": "hi"}),
    ):
        r = await client.request(method, path, json=body)
        assert r.status_code in (403, 404), (method, r.text)
        assert r.json()["error"]["code"] in ("battle_not_found", "not_your_battle", "not_found")


async def test_unknown_battle_is_404_before_403(arena: FastAPI, client: httpx.AsyncClient) -> None:
    """Without a cookie too: an unknown id is 404 for every caller, before any 403."""
    await start(client)  # the client has a cookie; the stranger below has none
    transport = httpx.ASGITransport(app=arena, client=("198.51.100.9", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as stranger:
        for who in (stranger, client):
            for path, body in (("vote", {"winner": "A"}), ("messages", {"content": "hi"})):
                r = await who.post(f"/api/v1/battles/{'0' * 32}/{path}", json=body)
                assert r.status_code == 404, (path, r.text)
                assert r.json()["error"]["code"] == "battle_not_found"


async def test_vote_before_any_answer(arena: FastAPI, client: httpx.AsyncClient) -> None:
    battle_id = await start(client)
    r = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "A"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "battle_not_ready"


@pytest.mark.parametrize("winner", ["C", "a", "", None, 1, "model_a"])
async def test_invalid_winner(arena: FastAPI, client: httpx.AsyncClient, winner: object) -> None:
    battle_id = await start(client)
    await send(client, battle_id, "hi")
    r = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": winner})
    assert r.status_code == 422 and r.json()["error"]["type"] == "invalid_request_error"
    assert (await client.get(f"/api/v1/battles/{battle_id}")).json()["can_vote"]


async def test_empty_and_oversized_messages(arena: FastAPI, client: httpx.AsyncClient) -> None:
    battle_id = await start(client)
    r = await send(client, battle_id, "   ")
    assert r.status_code == 400 and r.json()["error"]["code"] == "empty_message"
    r = await send(client, battle_id, "x" * (arena.state.settings.max_message_chars + 1))
    assert r.status_code == 413 and r.json()["error"]["code"] == "message_too_long"
    r = await client.post(f"/api/v1/battles/{battle_id}/messages", json={"text": "hi"})
    assert r.status_code == 422
    assert (await client.get(f"/api/v1/battles/{battle_id}")).json()["turns"] == []


async def test_non_json_and_cross_origin_are_refused(
    arena: FastAPI, client: httpx.AsyncClient
) -> None:
    r = await client.post(
        "/api/v1/battles",
        content="winner=A",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415
    r = await client.post("/api/v1/battles", json={}, headers={"origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "cross_origin"


async def test_vote_from_another_client_is_refused(
    arena: FastAPI, client: httpx.AsyncClient
) -> None:
    battle_id = await start(client)
    await send(client, battle_id, "hi")
    transport = httpx.ASGITransport(app=arena, client=("198.51.100.9", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        r = await other.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "A"})
        assert r.status_code == 403
        other.cookies.set("arena_client", "forged.signature")
        r = await other.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "A"})
        assert r.status_code == 403
    assert (
        await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "A"})
    ).status_code == 200


async def test_battle_creation_is_rate_limited(arena: FastAPI, client: httpx.AsyncClient) -> None:
    limit = int(arena.state.settings.rate_limit_battles.split("/")[0])
    codes = [(await client.post("/api/v1/battles", json={})).status_code for _ in range(limit + 4)]
    assert codes[:limit] == [201] * limit
    # Sliding-window counters weigh the previous clock window, so a run that straddles a
    # minute boundary may admit one or two more; after that every request is refused.
    first_refused = codes.index(429)
    assert limit <= first_refused <= limit + 2
    assert set(codes[first_refused:]) == {429}
    r = await client.post("/api/v1/battles", json={})
    assert r.json()["error"]["type"] == "rate_limit_error" and "retry-after" in r.headers


async def test_an_ipv6_slash_64_is_one_address_for_limits(arena: FastAPI) -> None:
    """Fresh cookies from ever new addresses of one /64 still share the address's limit."""
    limit = int(arena.state.settings.rate_limit_battles.split("/")[0])
    codes = []
    for n in range(limit + 4):
        peer = (f"2001:db8:1:2::{n + 1:x}", 40000)
        transport = httpx.ASGITransport(app=arena, client=peer)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            codes.append((await c.post("/api/v1/battles", json={})).status_code)
    assert codes[:limit] == [201] * limit
    first_refused = codes.index(429)
    assert limit <= first_refused <= limit + 2
    assert set(codes[first_refused:]) == {429}
    # Another /64 is another address.
    transport = httpx.ASGITransport(app=arena, client=("2001:db8:1:3::1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        assert (await c.post("/api/v1/battles", json={})).status_code == 201
