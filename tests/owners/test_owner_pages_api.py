"""The JSON behind the owners and admin pages: an owner's own models with their numbers,
the exclusion audit ledger, and the two page shells with the API's form constraints."""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from arena.battles.tables import Battle, BattleResponse, BattleTurn
from arena.db import session_scope, utcnow
from arena.leaderboard.loop import recompute_once
from arena.models import lifecycle
from arena.models.service import OperatorModel, OwnerModel, add_operator_model, add_owner_model
from arena.models.tables import ModelEndpoint
from arena.settings import Settings
from arena.votes.tables import Vote, VoteExclusion

ADMIN = {"Authorization": "Bearer test-admin-token"}


def assert_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error"} and r.json()["error"]["code"] == code


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Registrations below point at 127.0.0.1:9 (nothing listens): verification fails fast.
    return settings.model_copy(update={"allow_private_endpoints": True})


async def owner(client: httpx.AsyncClient, name: str) -> tuple[int, dict[str, str]]:
    r = await client.post("/api/v1/owners", json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()["owner_id"], {"Authorization": f"Bearer {r.json()['token']}"}


def owned(app: FastAPI, owner_id: int, name: str, status: str = "verifying") -> int:
    """An owner's model, moved to `status` the way the lifecycle moves it."""
    with session_scope(app.state.sessionmaker) as session:
        spec = OwnerModel(name, "Acme", "open", "http://127.0.0.1:9/v1", f"acme/{name}")
        model = add_owner_model(session, owner_id, spec, None)
        checks = [{"name": "models", "ok": True, "detail": "lists it", "ms": 3.5}]
        if status != "verifying":
            lifecycle.record_verification(session, model.id, checks)
        if status in ("approved", "suspended"):
            lifecycle.approve(model)
            model.healthy = True
        if status == "suspended":
            lifecycle.suspend_for_drift(model, "canary answer changed")
        return model.id


def battle(app: FastAPI, a: int, b: int, winner: str, *, ttft: float, included: bool = True) -> int:
    with session_scope(app.state.sessionmaker) as session:
        bid = secrets.token_hex(16)
        session.add(
            Battle(
                id=bid, model_a_id=a, model_b_id=b, system_message="", client_hash="c",
                ip_hash="i", network_hash="n", voted_at=utcnow(),
            )
        )  # fmt: skip
        session.flush()
        turn = BattleTurn(battle_id=bid, idx=0, content="hi", status="done")
        session.add(turn)
        session.flush()
        for side in "AB":
            session.add(
                BattleResponse(
                    turn_id=turn.id, side=side, content="hello", status="done",
                    completion_tokens=50, ttft_ms=ttft, duration_ms=1000.0,
                )
            )  # fmt: skip
        vote = Vote(
            battle_id=bid, winner=winner, model_a_id=a, model_b_id=b, turns=1,
            client_hash="c", ip_hash="i", network_hash="n", included=included,
        )  # fmt: skip
        session.add(vote)
        session.flush()
        return vote.id


# --- GET /api/v1/owners/me/models ---------------------------------------------------------


async def test_an_owner_sees_only_its_own_models(app: FastAPI, client: httpx.AsyncClient) -> None:
    a_id, a = await owner(client, "A")
    b_id, b = await owner(client, "B")
    mine = owned(app, a_id, "A-7B")
    theirs = owned(app, b_id, "B-7B", "verified")

    r = await client.get("/api/v1/owners/me/models", headers=a)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert [m["id"] for m in r.json()] == [mine]
    body = r.json()[0]
    assert body["name"] == "A-7B" and body["status"] == "verifying"
    assert body["performance"] is None and body["aliases"] == ["A-7B"]
    r = await client.get("/api/v1/owners/me/models", headers=b)
    assert [m["id"] for m in r.json()] == [theirs]
    assert r.json()[0]["report"]["checks"][0] == {
        "name": "models", "ok": True, "detail": "lists it", "ms": 3.5,
    }  # fmt: skip
    # The contract for a single model: another owner's → 403.
    assert_error(await client.get(f"/api/v1/models/{theirs}", headers=a), 403, "not_your_model")


async def test_my_models_needs_an_owner_token(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/v1/owners/me/models"), 401, "missing_token")
    bad = {"Authorization": "Bearer arena_owner_wrong"}
    assert_error(await client.get("/api/v1/owners/me/models", headers=bad), 401, "invalid_token")
    r = await client.get("/api/v1/owners/me/models", headers=ADMIN)
    assert_error(r, 403, "owner_token_required")


async def test_an_approved_model_has_its_numbers(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner_id, auth = await owner(client, "Acme")
    mine = owned(app, owner_id, "Acme-7B", "approved")
    waiting = owned(app, owner_id, "Acme-8B", "verified")
    with session_scope(app.state.sessionmaker) as session:
        rival = add_operator_model(
            session, OperatorModel(name="Rival", base_url="http://127.0.0.1:9/v1", api_model="r")
        ).id
    for winner, ttft in (("A", 100.0), ("A", 200.0), ("B", 300.0), ("tie", 400.0)):
        battle(app, mine, rival, winner, ttft=ttft)
    battle(app, rival, mine, "A", ttft=500.0, included=False)
    assert recompute_once(app.state.sessionmaker, app.state.settings) is not None

    models = (await client.get("/api/v1/owners/me/models", headers=auth)).json()
    assert [m["id"] for m in models] == [waiting, mine]
    assert models[0]["performance"] is None
    p = models[1]["performance"]
    assert p["counts"] == {"battles": 5, "votes": 5, "votes_included": 4}
    assert p["rating"]["rank"] == 1 and p["rating"]["models"] == 2
    assert p["rating"]["ci_low"] < p["rating"]["rating"] < p["rating"]["ci_high"]
    assert [h["battles"] for h in p["history"]] == [4]
    assert p["activity"] == [
        {"day": utcnow().date().isoformat(), "battles": 5, "votes": 5, "votes_included": 4}
    ]
    [w] = p["win_rates"]
    assert (w["opponent"], w["wins"], w["losses"], w["ties"], w["votes"]) == ("Rival", 2, 1, 1, 4)
    assert w["win_rate"] == pytest.approx(2.5 / 4)
    # Its own side's answers only: 100..400 as side A, 500 as side B.
    lat = p["latency"]
    assert lat["answers"] == 5 and lat["ttft_ms_p50"] == 300.0
    assert lat["duration_ms_p50"] == 1000.0 and lat["tokens_per_second_p50"] == 50.0
    assert p["drift"] == []
    assert all("api_key_ref" not in m and "api_key" not in m for m in models)


async def test_drift_is_reported(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner_id, auth = await owner(client, "Acme")
    owned(app, owner_id, "Acme-7B", "suspended")
    [m] = (await client.get("/api/v1/owners/me/models", headers=auth)).json()
    assert m["status"] == "suspended"
    [d] = m["performance"]["drift"]
    assert d["reason"] == "canary answer changed" and d["at"] == m["suspended_at"]
    assert m["performance"]["latency"]["answers"] == 0
    assert m["performance"]["latency"]["ttft_ms_p50"] is None


async def test_the_same_name_twice_makes_one_model(app: FastAPI, client: httpx.AsyncClient) -> None:
    """What a double submit on the page would do: the second request is refused."""
    _, auth = await owner(client, "Acme")
    body = {
        "name": "Twice-7B", "organization": "", "license": "open",
        "base_url": "http://127.0.0.1:9", "api_model": "twice",
    }  # fmt: skip
    first = await client.post("/api/v1/models", json=body, headers=auth)
    assert first.status_code == 202, first.text
    again = await client.post("/api/v1/models", json=body, headers=auth)
    assert_error(again, 409, "model_name_taken")
    louder = await client.post("/api/v1/models", json={**body, "name": "TWICE-7b"}, headers=auth)
    assert_error(louder, 409, "model_name_taken")
    await app.state.tasks.close()
    with session_scope(app.state.sessionmaker) as session:
        names = session.scalars(select(ModelEndpoint.name)).all()
    assert names == ["Twice-7B"]


# --- the exclusion ledger -------------------------------------------------------------------


def exclude(app: FastAPI, vote_id: int, reason: str, detail: str = "") -> None:
    with session_scope(app.state.sessionmaker) as session:
        session.add(VoteExclusion(vote_id=vote_id, reason=reason, detail=detail))
        vote = session.get(Vote, vote_id)
        assert vote is not None
        vote.included = False


async def test_exclusions_newest_first_by_reason_in_pages(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    with session_scope(app.state.sessionmaker) as session:
        ids = [
            add_operator_model(
                session, OperatorModel(name=n, base_url="http://127.0.0.1:9/v1", api_model=n)
            ).id
            for n in ("X", "Y")
        ]
    votes = [battle(app, ids[0], ids[1], "A", ttft=1.0) for _ in range(5)]
    plan = [
        (votes[0], "too_fast", "read 0.4 s"),
        (votes[1], "identity_leak", "side A named X"),
        (votes[2], "too_fast", "read 0.1 s"),
        (votes[2], "abuse_pattern", "llr 12.5"),
        (votes[3], "too_fast", "read 1.2 s"),
    ]
    for vote_id, reason, detail in plan:
        exclude(app, vote_id, reason, detail)

    r = await client.get("/api/v1/admin/exclusions", headers=ADMIN)
    assert r.status_code == 200, r.text
    rows = r.json()["exclusions"]
    assert [(x["vote_id"], x["reason"]) for x in rows] == [(v, reason) for v, reason, _ in plan][
        ::-1
    ]
    assert r.json()["next_before"] is None
    first = rows[-1]
    assert set(first) == {"id", "vote_id", "battle_id", "reason", "detail", "created_at"}
    assert first["detail"] == "read 0.4 s" and re.fullmatch(r"[0-9a-f]{32}", first["battle_id"])

    seen: list[str] = []
    before: int | None = None
    for _ in range(3):
        params: dict[str, Any] = {"reason": "too_fast", "limit": 2}
        if before is not None:
            params["before"] = before
        page = (await client.get("/api/v1/admin/exclusions", params=params, headers=ADMIN)).json()
        seen += [x["detail"] for x in page["exclusions"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == ["read 1.2 s", "read 0.1 s", "read 0.4 s"]

    counts = (await client.get("/api/v1/admin/exclusions/counts", headers=ADMIN)).json()
    assert counts == {
        "counts": {"too_fast": 3, "abuse_pattern": 1, "identity_leak": 1},
        "votes_excluded": 4,
    }
    empty = await client.get("/api/v1/admin/exclusions?reason=nothing_like_it", headers=ADMIN)
    assert empty.json() == {"exclusions": [], "next_before": None}


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=501", "before=0", "limit=x", "reason=" + "r" * 41]
)
async def test_exclusions_bad_queries(client: httpx.AsyncClient, query: str) -> None:
    r = await client.get(f"/api/v1/admin/exclusions?{query}", headers=ADMIN)
    assert_error(r, 422, "validation_error")


async def test_exclusions_need_the_admin_token(client: httpx.AsyncClient) -> None:
    _, auth = await owner(client, "Acme")
    for path in ("/api/v1/admin/exclusions", "/api/v1/admin/exclusions/counts"):
        assert_error(await client.get(path), 401, "missing_token")
        assert_error(await client.get(path, headers=auth), 403, "admin_required")
        bad = {"Authorization": "Bearer wrong"}
        assert_error(await client.get(path, headers=bad), 401, "invalid_token")


# --- the page shells --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/owners", "/admin"])
async def test_pages_are_shells_under_the_strict_csp(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    html = r.text
    scripts = re.findall(r"<script\b([^>]*)>", html)
    assert scripts and all('type="module"' in s and 'src="/static/' in s for s in scripts)
    assert " style=" not in html and "<style" not in html and " on" + "click=" not in html


async def test_the_registration_form_mirrors_the_api(client: httpx.AsyncClient) -> None:
    html = (await client.get("/owners")).text
    assert 'data-testid="register-model"' in html

    def control(name: str) -> str:
        match = re.search(rf'<(?:input|select)\s+id="model-{name}"[^>]*>', html, re.S)
        assert match, name
        return match.group(0)

    name = control("name")
    assert " required" in name and 'maxlength="200"' in name and 'minlength="1"' in name
    assert " required" not in control("organization") and 'maxlength="200"' in control(
        "organization"
    )
    assert 'type="url"' in control("base_url") and 'maxlength="2000"' in control("base_url")
    assert 'maxlength="500"' in control("api_model")
    key = control("api_key")
    assert 'type="password"' in key and 'maxlength="4096"' in key and " required" not in key
    assert '<option value="open">' in html and '<option value="proprietary">' in html
    for field in ("name", "organization", "license", "base_url", "api_model", "api_key"):
        assert f'<label for="model-{field}">' in html
        assert f'data-error-for="{field}"' in html
    assert 'id="owner-email"' in html and 'maxlength="320"' in html


async def test_owner_page_is_in_the_navigation(client: httpx.AsyncClient) -> None:
    html = (await client.get("/owners")).text
    assert '<a href="/owners" aria-current="page">' in html
