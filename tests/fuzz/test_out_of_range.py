"""What the fuzzer found first: an id beyond 64 bits was a 500 (SQLite's driver cannot bind
it, PostgreSQL cannot cast it to the column's type). It is a 422 in the envelope on both."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from arena.settings import Settings

HUGE = 2**70


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"admin_token": SecretStr("fuzz-admin")})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/v1/snapshots/{HUGE}"),
        ("GET", f"/api/v1/snapshots/{HUGE}/votes"),
        ("GET", f"/api/v1/models/{HUGE}"),
        ("POST", f"/api/v1/admin/models/{HUGE}/approve"),
        ("GET", f"/api/v1/admin/exclusions?before={HUGE}"),
    ],
)
async def test_an_id_beyond_64_bits_is_refused_in_the_envelope(
    client: httpx.AsyncClient, database_url: str, method: str, path: str
) -> None:
    headers = {"Authorization": "Bearer fuzz-admin"}
    r = await client.request(method, path, headers=headers, json={} if method == "POST" else None)
    body = r.json()
    assert set(body) == {"error"} and all(body["error"][k] for k in ("message", "type", "code"))
    assert (r.status_code, body["error"]["code"]) == (422, "value_out_of_range"), body
