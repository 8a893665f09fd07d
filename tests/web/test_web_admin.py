"""The admin page in Chromium: nothing without the token, a clear word for a wrong one,
pending models approved, re-verified and retired, suspensions with their evidence, and the
exclusion ledger filtered by reason and paged."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from owner_support import (
    ADMIN_TOKEN,
    XSS,
    check_keyboard_and_labels,
    expected_failures,
    new_owner,
    publish,
    register,
    wait_status,
)
from playwright.sync_api import Page, expect
from sqlalchemy import select
from web_support import LiveServer, Tab, sqlite_only

from arena.battles.tables import Battle
from arena.db import session_scope, utcnow
from arena.models import lifecycle
from arena.models.tables import ModelEndpoint
from arena.settings import Settings
from arena.votes.tables import Vote, VoteExclusion
from serving.fakes import FakeModel, FakeServer

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"allow_private_endpoints": True})


@pytest.fixture
def endpoint() -> Iterator[FakeServer]:
    with FakeServer(FakeModel(served_name="acme/owner-7b", answer="Hello, how can I help?")) as s:
        yield s


def sign_in(page: Page, token: str = ADMIN_TOKEN) -> None:
    page.locator("#admin-token").fill(token)
    page.get_by_role("button", name="Use token").click()


def card(page: Page, testid: str, name: str) -> Any:
    return page.get_by_test_id(testid).locator("article", has_text=name)


def status_of(live: LiveServer, name: str) -> str:
    with session_scope(live.sessionmaker) as session:
        model = session.scalar(select(ModelEndpoint).where(ModelEndpoint.name == name))
        assert model is not None
        return model.status


def suspend(live: LiveServer, name: str, reason: str, evidence: dict[str, Any]) -> None:
    with session_scope(live.sessionmaker) as session:
        model = session.scalar(select(ModelEndpoint).where(ModelEndpoint.name == name))
        assert model is not None
        lifecycle.approve(model)
        lifecycle.suspend_for_drift(model, reason)
        model.report = {**model.report, "drift": evidence}


def seed_exclusions(live: LiveServer, plan: list[tuple[str, str]]) -> None:
    """One excluded vote per (reason, detail), between the operator's two models."""
    with session_scope(live.sessionmaker) as session:
        ids = dict(session.execute(select(ModelEndpoint.name, ModelEndpoint.id)).all())
        for reason, detail in plan:
            bid = secrets.token_hex(16)
            a, b = ids["Alpha-7B"], ids["Beta-3B"]
            session.add(
                Battle(
                    id=bid, model_a_id=a, model_b_id=b, system_message="", client_hash="s",
                    ip_hash="s", network_hash="s", voted_at=utcnow(),
                )
            )  # fmt: skip
            session.flush()
            vote = Vote(
                battle_id=bid, winner="A", model_a_id=a, model_b_id=b, turns=1,
                client_hash="s", ip_hash="s", network_hash="s", included=False,
            )  # fmt: skip
            session.add(vote)
            session.flush()
            session.add(VoteExclusion(vote_id=vote.id, reason=reason, detail=detail))


@sqlite_only
def test_no_token_no_data(tab: Tab, live: LiveServer) -> None:
    page = tab.page
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.url) if "/api/" in r.url else None)
    tab.goto("/admin")
    expect(page.locator("#admin-prompt")).to_be_visible()
    expect(page.locator("#admin-prompt")).to_contain_text("Paste the admin token")
    expect(page.locator("#admin-data")).to_be_hidden()
    page.get_by_role("button", name="Use token").click()
    expect(page.locator("#admin-error")).to_have_text("Paste the admin token first.")
    assert calls == []
    check_keyboard_and_labels(page)


@sqlite_only
def test_wrong_tokens(tab: Tab, live: LiveServer) -> None:
    page = tab.page
    tab.goto("/admin")
    sign_in(page, "not-the-admin-token")
    error = page.locator("#admin-error")
    expect(error).to_have_text(re.compile("This admin token is not valid"))
    expect(page.locator("#admin-data")).to_be_hidden()
    assert page.evaluate("() => sessionStorage.getItem('arena.adminToken')") is None
    sign_in(page, new_owner(live))
    expect(error).to_have_text("That is an owner token, not the admin token.")
    expect(page.get_by_test_id("admin-pending").locator("article")).to_have_count(0)
    text = page.locator("main").inner_text()
    assert "Traceback" not in text and "{" not in text
    expected_failures(tab, "401 ", "403 ")


def test_admin_journey(tab: Tab, live: LiveServer, endpoint: FakeServer) -> None:
    owner = new_owner(live)
    ready = register(
        live, owner, name="Ready-7B", base_url=endpoint.base_url, api_model="acme/owner-7b"
    )
    wait_status(live, owner, ready, "verified")
    drifted = register(
        live, owner, name="Drifted-7B", base_url=endpoint.base_url, api_model="acme/owner-7b"
    )
    wait_status(live, owner, drifted, "verified")
    suspend(
        live,
        "Drifted-7B",
        "canary 2 answered differently",
        {"canary": 2, "expected": "4", "received": "five"},
    )
    seed_exclusions(
        live,
        [("too_fast", f"read {i / 10:.1f} s") for i in range(52)]
        + [("identity_leak", "side A named Alpha"), ("abuse_pattern", "llr 14.2")],
    )
    page = tab.page
    tab.goto("/admin")
    sign_in(page)
    pending = card(page, "admin-pending", "Ready-7B")
    expect(pending.get_by_test_id("verification-report")).to_have_attribute(
        "data-status", "verified"
    )
    expect(pending.locator("li.check.ok").first).to_be_visible()
    evidence = card(page, "admin-suspended", "Drifted-7B").get_by_test_id("suspension-evidence")
    expect(evidence).to_contain_text("canary 2 answered differently")

    # The ledger: counts per reason, newest first, 50 a page, filters.
    counts = page.locator("#reason-counts")
    expect(counts).to_contain_text("54 votes excluded.")
    expect(counts.locator('button[data-reason="too_fast"]')).to_contain_text("52")
    rows = page.locator("#ledger-rows tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("abuse_pattern")
    page.get_by_role("button", name="Load older").click()
    expect(rows).to_have_count(54)
    expect(page.get_by_role("button", name="Load older")).to_be_hidden()
    page.get_by_label("Reason", exact=True).select_option("identity_leak")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("side A named Alpha")
    counts.locator('button[data-reason="abuse_pattern"]').click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("llr 14.2")
    expect(counts.locator('button[data-reason="abuse_pattern"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    check_keyboard_and_labels(page)
    publish(tab, "admin-desktop")

    pending.get_by_role("button", name="Approve").click()
    expect(page.locator("#admin-status")).to_have_text("Ready-7B: approved (now approved).")
    expect(card(page, "admin-pending", "Ready-7B")).to_have_count(0)
    assert status_of(live, "Ready-7B") == "approved"

    # Re-verify the suspended one: it is pending again, and verifies live.
    card(page, "admin-suspended", "Drifted-7B").get_by_role("button", name="Re-verify").click()
    back = card(page, "admin-pending", "Drifted-7B")
    expect(back.get_by_test_id("verification-report")).to_have_attribute(
        "data-status", "verified", timeout=30_000
    )
    expect(page.get_by_test_id("admin-suspended")).to_contain_text("No suspended models.")

    retire = back.get_by_role("button", name="Retire")
    retire.click()
    expect(back.get_by_role("button", name="Confirm: retire")).to_be_visible()
    assert status_of(live, "Drifted-7B") == "verified"
    back.get_by_role("button", name="Confirm: retire").click()
    expect(page.get_by_test_id("admin-pending")).to_contain_text(
        "Nothing is waiting for a decision."
    )
    assert status_of(live, "Drifted-7B") == "retired"

    page.get_by_role("button", name="Forget token").click()
    expect(page.locator("#admin-data")).to_be_hidden()
    assert page.evaluate("() => sessionStorage.getItem('arena.adminToken')") is None


@sqlite_only
def test_hostile_names_and_reports_stay_inert(tab: Tab, live: LiveServer) -> None:
    """Owner-given names and whatever an endpoint answered are shown as text only."""
    owner = new_owner(live)
    with session_scope(live.sessionmaker) as session:
        from arena.models.service import OwnerModel, add_owner_model
        from arena.owners.tables import Owner

        owner_id = session.scalars(select(Owner.id)).one()
        spec = OwnerModel(f"Evil {XSS}", f"Org {XSS}", "open", "http://127.0.0.1:9", "evil/model")
        model = add_owner_model(session, owner_id, spec, None)
        checks = [
            {"name": "models", "ok": True, "detail": f"lists {XSS}", "ms": 2.0},
            {"name": "<script>alert(3)</script>", "ok": True, "detail": "<b>bold?</b>", "ms": 1.0},
        ]
        lifecycle.record_verification(session, model.id, checks)
        model.report = {**model.report, "identity": {"answers": [XSS, "<svg onload=alert(4)>"]}}
    seed_exclusions(live, [("identity_leak", f"answer said {XSS}")])
    assert owner
    page = tab.page
    tab.goto("/admin")
    sign_in(page)
    evil = card(page, "admin-pending", "Evil")
    expect(evil).to_contain_text(f"Evil {XSS}")
    expect(evil).to_contain_text(f"Org {XSS}")
    expect(evil).to_contain_text(f"lists {XSS}")
    expect(evil).to_contain_text("<script>alert(3)</script>")
    evil.locator("summary", has_text="More from the report").click()
    expect(evil).to_contain_text("<svg onload=alert(4)>")
    expect(page.locator("#ledger-rows")).to_contain_text(f"answer said {XSS}")
    for tag in ("img", "script", "svg", "b", "[onerror]", "[onload]"):
        expect(page.locator(f"main {tag}")).to_have_count(0)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert tab.watch.dialogs == []


@sqlite_only
@pytest.mark.parametrize("context_options", [PHONE], indirect=True)
def test_phone_width(tab: Tab, live: LiveServer, endpoint: FakeServer) -> None:
    owner = new_owner(live)
    ready = register(
        live, owner, name="Ready-7B", base_url=endpoint.base_url, api_model="acme/owner-7b"
    )
    wait_status(live, owner, ready, "verified")
    seed_exclusions(live, [("too_fast", "read 0.3 s"), ("identity_leak", "side B named Beta")])
    page = tab.page
    tab.goto("/admin")
    sign_in(page)
    expect(card(page, "admin-pending", "Ready-7B")).to_be_visible()
    expect(page.locator("#ledger-rows tr")).to_have_count(2)
    widths = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
    assert widths[0] <= widths[1], widths
    publish(tab, "admin-phone")
