"""Verification that knows the model: identity probes, the fingerprint, periodic canaries
against a fake that swaps its weights behind the same served name."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from arena.db import session_scope, utcnow
from arena.models.canaries import CanaryOutcome, canary_round
from arena.models.tables import EndpointFingerprint, ModelEndpoint
from arena.settings import Settings
from serving.fakes import FakeModel, FakeServer
from serving.fingerprint import CANARY_PROMPTS, CANARY_SEED, MATCH_THRESHOLD
from tests.owners.test_owner_flow import ADMIN, new_owner, pool_names, probe_all, register, settled

SERVED = "owner/model-7b"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"allow_private_endpoints": True})


@pytest.fixture
async def weighted() -> AsyncIterator[FakeServer]:
    async with FakeServer(FakeModel(served_name=SERVED, weights=1)) as server:
        yield server


async def approved(client: httpx.AsyncClient, base_url: str, **fields: Any) -> int:
    auth = await new_owner(client)
    model_id = await register(client, auth, base_url, **fields)
    model = await settled(client, model_id, auth)
    assert model["status"] == "verified", model["report"]["checks"]
    r = await client.post(f"/api/v1/admin/models/{model_id}/approve", json={}, headers=ADMIN)
    assert r.status_code == 200, r.text
    return model_id


class Rounds:
    """Canary rounds one interval apart, each on a clock later than the last."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.clock = utcnow()

    async def next(self) -> dict[int, CanaryOutcome]:
        state = self.app.state
        self.clock += timedelta(seconds=state.settings.canary_interval_seconds + 1)
        return await canary_round(
            state.sessionmaker, state.guarded_http, state.settings, now=self.clock
        )


def model_row(app: FastAPI, model_id: int) -> dict[str, Any]:
    with session_scope(app.state.sessionmaker) as session:
        m = session.get(ModelEndpoint, model_id)
        assert m is not None
        return {
            "status": m.status,
            "report": dict(m.report),
            "aliases": list(m.aliases),
            "owner_aliases": list(m.owner_aliases),
            "healthy": m.healthy,
        }


def fingerprints(app: FastAPI, model_id: int) -> list[EndpointFingerprint]:
    with session_scope(app.state.sessionmaker) as session:
        stmt = select(EndpointFingerprint).where(EndpointFingerprint.model_id == model_id)
        rows = list(session.scalars(stmt))
        session.expunge_all()
        return rows


async def test_identity_probes_become_aliases_with_the_owners(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    fake = FakeModel.naming_itself("Qwen", "Alibaba Cloud", served_name=SERVED)
    async with FakeServer(fake) as server:
        auth = await new_owner(client)
        model_id = await register(client, auth, server.base_url, aliases=[" Tongyi ", "tongyi"])
        model = await settled(client, model_id, auth)
    assert model["status"] == "verified", model["report"]["checks"]
    check = {c["name"]: c for c in model["report"]["checks"]}["identity"]
    assert check["ok"] and "'Qwen', 'Alibaba Cloud'" in check["detail"]
    assert "I am Qwen, created by Alibaba Cloud" in check["detail"]
    identity = model["report"]["identity"]
    assert identity["names"] == ["Qwen", "Alibaba Cloud"]
    assert len(identity["answers"]) == 3
    assert all(a["names"] == ["Qwen", "Alibaba Cloud"] for a in identity["answers"])
    # The served name's tail, the owner's aliases (once), the probed names.
    assert model["aliases"] == ["model-7b", "Tongyi", "Qwen", "Alibaba Cloud"]
    assert model["owner_aliases"] == ["Tongyi"]
    # The probes asked at temperature 0 with a short answer.
    probes = [r for r in fake.requests if r["messages"][-1]["content"] not in CANARY_PROMPTS]
    assert all(r["temperature"] == 0.0 and r["max_tokens"] <= 64 for r in probes)


async def test_fingerprint_is_recorded_with_the_report(
    app: FastAPI, client: httpx.AsyncClient, weighted: FakeServer
) -> None:
    model_id = await approved(client, weighted.base_url)
    rows = fingerprints(app, model_id)
    assert len(rows) == 1
    row = rows[0]
    assert row.seed == CANARY_SEED
    assert row.listing == {
        "id": SERVED,
        "owned_by": "fake",
        "max_model_len": 2048,
        "root": f"/models/{SERVED}",
    }
    assert [c["prompt"] for c in row.canaries] == list(CANARY_PROMPTS)
    assert all(len(c["digest"]) == 64 and c["answer"] for c in row.canaries)
    # Every canary asked twice, at temperature 0 with the seed.
    canary_requests = [
        r for r in weighted.requests if r["messages"][-1]["content"] in CANARY_PROMPTS
    ]
    assert len(canary_requests) == 2 * len(CANARY_PROMPTS)
    assert all(r["temperature"] == 0.0 and r["seed"] == CANARY_SEED for r in canary_requests)
    report = model_row(app, model_id)["report"]
    assert report["fingerprint"]["listing"]["id"] == SERVED
    assert [c["digest"] for c in report["fingerprint"]["canaries"]] == [
        c["digest"] for c in row.canaries
    ]
    check = {c["name"]: c for c in report["checks"]}["fingerprint"]
    assert check["ok"] and "3 answered identically twice" in check["detail"]


async def test_swapped_weights_are_suspended_with_the_evidence(
    app: FastAPI, client: httpx.AsyncClient, weighted: FakeServer
) -> None:
    model_id = await approved(client, weighted.base_url)
    await probe_all(app)
    assert "Acme-7B" in pool_names(app)
    rounds = Rounds(app)
    assert (await rounds.next())[model_id].result == "matched"
    expected = {c["prompt"]: c["answer"] for c in fingerprints(app, model_id)[0].canaries}

    weighted.model.weights = 2  # same served name, same /v1/models, other weights
    outcome = (await rounds.next())[model_id]
    assert outcome.result == "drifted"
    row = model_row(app, model_id)
    assert row["status"] == "suspended" and row["healthy"] is False
    assert "Acme-7B" not in pool_names(app)
    assert row["report"]["suspended_reason"].startswith("canaries: 3 of 3 canaries no longer")
    drift = row["report"]["drift"]
    assert drift["threshold"] == MATCH_THRESHOLD and drift["result"] == "drifted"
    assert drift["listing_changes"] == {}
    for canary in drift["canaries"]:
        assert canary["expected"] == expected[canary["prompt"]][:300]
        assert canary["got"] and canary["got"] != canary["expected"]
        assert canary["similarity"] < MATCH_THRESHOLD and canary["matched"] is False
    # A suspended model is not asked again, and the admin cannot approve it back directly.
    assert model_id not in await rounds.next()
    r = await client.post(f"/api/v1/admin/models/{model_id}/approve", json={}, headers=ADMIN)
    assert r.status_code == 409


async def test_unchanged_model_is_never_flagged(
    app: FastAPI, client: httpx.AsyncClient, weighted: FakeServer
) -> None:
    model_id = await approved(client, weighted.base_url)
    await probe_all(app)
    rounds = Rounds(app)
    for _ in range(6):
        outcome = (await rounds.next())[model_id]
        assert outcome.result == "matched", outcome.detail
        assert outcome.detail.startswith("0 of 3 canaries")
    row = model_row(app, model_id)
    assert row["status"] == "approved" and "drift" not in row["report"]
    assert row["report"]["canaries"]["result"] == "matched"
    last = fingerprints(app, model_id)[0].last_check
    assert [c["similarity"] for c in last["canaries"]] == [1.0, 1.0, 1.0]


async def test_a_round_is_claimed_once_per_interval(
    app: FastAPI, client: httpx.AsyncClient, weighted: FakeServer
) -> None:
    model_id = await approved(client, weighted.base_url)
    await probe_all(app)
    state = app.state
    # Just verified: the first round is an interval away.
    assert await canary_round(state.sessionmaker, state.guarded_http, state.settings) == {}
    later = utcnow() + timedelta(seconds=state.settings.canary_interval_seconds + 1)
    args = (state.sessionmaker, state.guarded_http, state.settings)
    first, second = await asyncio.gather(
        canary_round(*args, now=later), canary_round(*args, now=later)
    )
    assert {**first, **second}.keys() == {model_id}
    assert not (first and second)  # two replicas: one of them asks


async def test_a_failing_endpoint_is_ill_not_drifted(
    app: FastAPI, client: httpx.AsyncClient, weighted: FakeServer
) -> None:
    model_id = await approved(client, weighted.base_url)
    await probe_all(app)
    weighted.model.status = 500
    outcome = (await Rounds(app).next())[model_id]
    assert outcome.result == "error" and "HTTP 500" in outcome.detail
    assert model_row(app, model_id)["status"] == "approved"


async def test_nondeterministic_endpoint_is_rejected(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async with FakeServer(FakeModel(served_name=SERVED, nondeterministic=True)) as server:
        auth = await new_owner(client)
        model_id = await register(client, auth, server.base_url)
        model = await settled(client, model_id, auth)
    assert model["status"] == "rejected"
    checks = {c["name"]: c for c in model["report"]["checks"]}
    assert all(checks[n]["ok"] for n in ("address", "models", "completion", "stream"))
    assert not checks["fingerprint"]["ok"]
    assert checks["fingerprint"]["detail"].startswith(
        "non-deterministic at temperature 0: the same canary was answered with different text"
    )
    assert model["health_detail"].startswith("fingerprint: non-deterministic")
    assert fingerprints(app, model_id) == []
    r = await client.post(f"/api/v1/admin/models/{model_id}/approve", json={}, headers=ADMIN)
    assert r.status_code == 409


async def test_server_without_seed_is_fingerprinted_without_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    fake = FakeModel(served_name=SERVED, weights=7, accepts_seed=False)
    async with FakeServer(fake) as server:
        model_id = await approved(client, server.base_url)
        await probe_all(app)
        assert fingerprints(app, model_id)[0].seed is None
        assert (await Rounds(app).next())[model_id].result == "matched"
    assert all("seed" not in r for r in fake.requests[-len(CANARY_PROMPTS) :])


async def test_reverify_after_drift_takes_a_new_fingerprint(
    app: FastAPI, client: httpx.AsyncClient, weighted: FakeServer
) -> None:
    model_id = await approved(client, weighted.base_url)
    await probe_all(app)
    rounds = Rounds(app)
    weighted.model.weights = 2
    assert (await rounds.next())[model_id].result == "drifted"
    r = await client.post(f"/api/v1/models/{model_id}/verify", json={}, headers=ADMIN)
    assert r.status_code == 202
    assert (await settled(client, model_id, ADMIN))["status"] == "verified"
    r = await client.post(f"/api/v1/admin/models/{model_id}/approve", json={}, headers=ADMIN)
    assert r.status_code == 200
    await probe_all(app)
    assert len(fingerprints(app, model_id)) == 2
    assert (await rounds.next())[model_id].result == "matched"  # the new weights are the model


async def test_canary_loop_runs_with_the_app(settings: Settings, weighted: FakeServer) -> None:
    from arena.app import create_app

    app = create_app(settings.model_copy(update={"canary_interval_seconds": 0.2}))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport,
            base_url="http://testserver",
            headers={"Origin": "http://testserver"},
        ) as client,
    ):
        model_id = await approved(client, weighted.base_url)
        await probe_all(app)
        weighted.model.weights = 99
        for _ in range(600):
            if model_row(app, model_id)["status"] == "suspended":
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the canary loop never suspended the swapped model")
        assert model_row(app, model_id)["report"]["drift"]["result"] == "drifted"
