"""The owners page in Chromium: a token, a registration verified live against a fake
endpoint, the operator's approval, the model's numbers; and every way it can go wrong."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from limits import parse
from owner_support import (
    ADMIN_TOKEN,
    XSS,
    check_keyboard_and_labels,
    expected_failures,
    new_owner,
    publish,
)
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from web_support import LiveServer, Tab, sqlite_only

from arena.battles.tables import Battle
from arena.db import session_scope, utcnow
from arena.models.tables import ModelEndpoint
from arena.settings import Settings
from arena.votes.tables import Vote
from serving.fakes import FakeModel, FakeServer

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}
CLIPBOARD = {"permissions": ["clipboard-read", "clipboard-write"]}
KEY = "sk-owner-secret-do-not-echo"


@pytest.fixture
def allow_private() -> bool:
    return True  # the fakes listen on loopback; the refusal test turns this off


@pytest.fixture
def settings(settings: Settings, allow_private: bool) -> Settings:
    return settings.model_copy(update={"allow_private_endpoints": allow_private})


@pytest.fixture
def endpoint() -> Iterator[FakeServer]:
    with FakeServer(FakeModel(served_name="acme/owner-7b", answer="Hello, how can I help?")) as s:
        yield s


def get_token(page: Page) -> str:
    page.get_by_label("Name", exact=True).fill("Acme Research")
    page.get_by_role("button", name="Get a token").click()
    token = page.get_by_test_id("owner-token")
    expect(token).to_have_value(re.compile(r"^arena_owner_"))
    return token.input_value()


def fill(page: Page, base_url: str, name: str = "Acme-7B", **extra: str) -> None:
    form = page.get_by_test_id("register-model")
    values = {
        "name": name,
        "organization": "Acme",
        "base_url": base_url,
        "api_model": "acme/owner-7b",
        **extra,
    }
    for field, value in values.items():
        form.locator(f'[name="{field}"]').fill(value)


def report(page: Page, name: str) -> Any:
    card = page.get_by_test_id("owner-models").locator("article", has_text=name)
    return card.get_by_test_id("verification-report")


def storage(page: Page) -> dict[str, str | None]:
    return page.evaluate(
        "() => ({session: sessionStorage.getItem('arena.ownerToken'),"
        " local: localStorage.getItem('arena.ownerToken')})"
    )


def seed_votes_against(live: LiveServer, model: str, n: int, rng: np.random.Generator) -> None:
    """Votes between the owner's model and the operator's Alpha-7B, then a new board."""
    with session_scope(live.sessionmaker) as session:
        ids = dict(session.execute(select(ModelEndpoint.name, ModelEndpoint.id)).all())
        for _ in range(n):
            bid = secrets.token_hex(16)
            a, b = ids[model], ids["Alpha-7B"]
            session.add(
                Battle(
                    id=bid, model_a_id=a, model_b_id=b, system_message="", client_hash="s",
                    ip_hash="s", network_hash="s", voted_at=utcnow(),
                )
            )  # fmt: skip
            session.flush()
            winner = str(rng.choice(["A", "A", "B", "tie"]))
            session.add(
                Vote(
                    battle_id=bid, winner=winner, model_a_id=a, model_b_id=b, turns=1,
                    client_hash="s", ip_hash="s", network_hash="s",
                )
            )  # fmt: skip
    assert live.recompute() is not None


@pytest.mark.parametrize("context_options", [CLIPBOARD], indirect=True)
def test_owner_journey(tab: Tab, live: LiveServer, endpoint: FakeServer) -> None:
    page = tab.page
    tab.goto("/owners")
    order = check_keyboard_and_labels(page)
    assert order.index("owner-name") < order.index("signup-submit") < order.index("paste-token")
    expect(page.get_by_role("button", name="Register and verify")).to_be_disabled()

    token = get_token(page)
    expect(page.get_by_text("It is shown once and cannot be shown again")).to_be_visible()
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("() => navigator.clipboard.readText()") == token
    # Kept in this tab only, and never in a cookie.
    assert storage(page) == {"session": token, "local": None}
    assert all(token not in c["value"] for c in page.context.cookies())
    order = check_keyboard_and_labels(page)  # now with the registration form enabled
    assert order.index("copy-token") < order.index("model-name") < order.index("register-submit")
    publish(tab, "owners-token")

    fill(page, endpoint.base_url, api_key=KEY)
    page.get_by_role("button", name="Register and verify").click()
    rep = report(page, "Acme-7B")
    expect(rep).to_have_attribute("data-status", "verified", timeout=30_000)
    checks = rep.locator("li.check")
    assert checks.count() >= 4
    for i in range(checks.count()):
        expect(checks.nth(i)).to_have_class(re.compile(r"\bok\b"))
        expect(checks.nth(i).locator(".check-ms")).to_have_text(re.compile(r"^[\d,]+ ms$"))
    status = page.locator("#register-status")
    expect(status).to_have_text(re.compile(r"is verified after \d+\.\d s"))
    assert page.get_by_label("API key").input_value() == ""
    assert KEY not in page.content()
    assert endpoint.requests and all("messages" in r for r in endpoint.requests)
    publish(tab, "owners-verified")

    # The operator approves it on the admin page, in another tab.
    admin = page.context.new_page()
    admin.goto(live.url + "/admin")
    admin.locator("#admin-token").fill(ADMIN_TOKEN)
    admin.get_by_role("button", name="Use token").click()
    pending = admin.get_by_test_id("admin-pending").locator("article", has_text="Acme-7B")
    pending.get_by_role("button", name="Approve").click()
    expect(admin.get_by_test_id("admin-pending")).not_to_contain_text("Acme-7B")
    admin.close()

    seed_votes_against(live, "Acme-7B", 60, np.random.default_rng(7))
    page.reload()  # the token survives a reload of the tab
    card = page.get_by_test_id("owner-models").locator("article", has_text="Acme-7B")
    expect(card).to_have_attribute("data-status", "approved")
    expect(card.get_by_test_id("owner-rating")).to_have_text(
        re.compile("^\\d+ \\(\\d+\u2013\\d+\\)$")
    )
    expect(card.get_by_test_id("owner-battles")).to_have_text("60")
    expect(card.get_by_test_id("owner-win-rates")).to_contain_text("Alpha-7B")
    expect(card.get_by_test_id("owner-activity").locator("tbody tr")).to_have_count(1)
    expect(card.get_by_test_id("owner-history").locator("tbody tr")).to_have_count(1)
    publish(tab, "owners-approved")

    page.get_by_role("button", name="Forget token").click()
    assert storage(page) == {"session": None, "local": None}
    expect(page.get_by_test_id("owner-models")).not_to_contain_text("Acme-7B")


@sqlite_only
def test_remember_on_this_device(tab: Tab, live: LiveServer) -> None:
    token = new_owner(live)
    page = tab.page
    tab.goto("/owners")
    page.get_by_label("Remember on this device").check()
    page.locator("#paste-token").fill(token)
    page.get_by_role("button", name="Use this token").click()
    expect(page.locator("#token-where")).to_have_text("(remembered on this device)")
    assert storage(page) == {"session": None, "local": token}
    assert page.locator("#paste-token").input_value() == ""

    other = page.context.new_page()  # a new tab shares localStorage, not sessionStorage
    other.goto(live.url + "/owners")
    expect(other.locator("#token-active")).to_be_visible()
    expect(other.get_by_test_id("owner-models")).to_contain_text("No models yet")
    other.close()
    page.get_by_role("button", name="Forget token").click()
    assert storage(page) == {"session": None, "local": None}


@sqlite_only
def test_wrong_and_expired_tokens(tab: Tab, live: LiveServer) -> None:
    page = tab.page
    tab.goto("/owners")
    page.locator("#paste-token").fill("arena_owner_not-a-real-token")
    page.get_by_role("button", name="Use this token").click()
    error = page.locator("#paste-token-error")
    expect(error).to_have_text(re.compile("This token is not valid"))
    expect(page.locator("#paste-token")).to_have_attribute("aria-invalid", "true")
    assert storage(page) == {"session": None, "local": None}

    page.locator("#paste-token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Use this token").click()
    expect(error).to_have_text(re.compile("not an owner token"))

    # A token the arena no longer knows, left in storage from an earlier visit.
    page.evaluate("() => localStorage.setItem('arena.ownerToken', 'arena_owner_gone')")
    page.reload()
    notice = page.locator("#token-status")
    expect(notice).to_have_text(re.compile("This owner token is not valid"))
    assert storage(page) == {"session": None, "local": None}
    text = page.locator("main").inner_text()
    assert "Traceback" not in text and "undefined" not in text and "{" not in text
    expected_failures(tab, "401 ", "403 ")


@sqlite_only
@pytest.mark.parametrize("allow_private", [False])
def test_endpoint_refused_by_the_ssrf_guard(
    tab: Tab, live: LiveServer, endpoint: FakeServer
) -> None:
    page = tab.page
    tab.goto("/owners")
    get_token(page)
    fill(page, endpoint.base_url)
    page.get_by_role("button", name="Register and verify").click()
    error = page.locator("#model-base_url-error")
    expect(error).to_have_text(
        re.compile(r"base_url refused: .*(loopback|not.*global|private)", re.I)
    )
    expect(page.get_by_label("Base URL")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Base URL")).to_be_focused()
    with session_scope(live.sessionmaker) as session:
        assert session.scalar(select(func.count()).select_from(ModelEndpoint)) == 2
    expected_failures(tab, "400 ")
    publish(tab, "owners-refused", full_page=False)


@sqlite_only
def test_double_submit_and_a_taken_name(tab: Tab, live: LiveServer, endpoint: FakeServer) -> None:
    page = tab.page
    tab.goto("/owners")
    get_token(page)
    posts: list[str] = []
    page.on(
        "request",
        lambda r: (
            posts.append(r.url) if r.method == "POST" and r.url.endswith("/api/v1/models") else None
        ),
    )
    fill(page, endpoint.base_url)
    disabled = page.evaluate(
        """() => {
          const form = document.getElementById('register');
          const button = document.getElementById('register-submit');
          form.requestSubmit(); const during = button.disabled;
          form.requestSubmit(); form.requestSubmit();
          return during;
        }"""
    )
    assert disabled is True
    expect(report(page, "Acme-7B")).to_have_attribute("data-status", "verified", timeout=30_000)
    # The form was reset: a double click on it now stops at the browser's checks.
    page.get_by_role("button", name="Register and verify").dblclick()
    expect(page.locator("#model-name-error")).to_have_text("required")
    assert len(posts) == 1

    fill(page, endpoint.base_url, name="acme-7b")
    page.get_by_role("button", name="Register and verify").click()
    expect(page.locator("#model-name-error")).to_have_text(re.compile("already exists"))
    assert len(posts) == 2
    with session_scope(live.sessionmaker) as session:
        names = session.scalars(select(ModelEndpoint.name).where(ModelEndpoint.source == "owner"))
        assert list(names) == ["Acme-7B"]
    expected_failures(tab, "409 ")


@sqlite_only
def test_validation_messages_next_to_fields(
    tab: Tab, live: LiveServer, endpoint: FakeServer
) -> None:
    page = tab.page
    tab.goto("/owners")
    get_token(page)
    page.get_by_role("button", name="Register and verify").click()
    for field in ("name", "base_url", "api_model"):
        expect(page.locator(f"#model-{field}-error")).to_have_text("required")
    assert page.locator("#model-organization-error").is_hidden()
    # What only the API judges comes back as its 422 and lands by the field it names.
    if page.locator("#model-aliases").count():
        fill(page, endpoint.base_url, aliases="ok-alias, x")
        page.get_by_role("button", name="Register and verify").click()
        expect(page.locator("#model-aliases-error")).to_contain_text("at least 2 characters")
        expected_failures(tab, "422 ")


@sqlite_only
def test_registration_limit_reached(tab: Tab, live: LiveServer, endpoint: FakeServer) -> None:
    page = tab.page
    tab.goto("/owners")
    get_token(page)
    live.app.state.limits.items["owners"] = parse("1/hour")
    fill(page, endpoint.base_url)
    page.get_by_role("button", name="Register and verify").click()
    expect(report(page, "Acme-7B")).to_have_attribute("data-status", "verified", timeout=30_000)
    fill(page, endpoint.base_url, name="Acme-8B")
    page.get_by_role("button", name="Register and verify").click()
    form_error = page.get_by_test_id("register-model").locator('[data-error-for="_form"]')
    expect(form_error).to_have_text(
        re.compile(
            r"^Limit reached: too many owners requests; try again in \d+ s\. Nothing was registered\.$"
        )
    )
    expect(page.get_by_role("button", name="Register and verify")).to_be_enabled()
    expect(page.get_by_test_id("owner-models").locator("article")).to_have_count(1)
    expected_failures(tab, "429 ")


@sqlite_only
def test_xss_in_owner_fields_and_probe_answers(tab: Tab, live: LiveServer) -> None:
    # The endpoint lists a hostile model name; the check that fails quotes it in its detail.
    with FakeServer(FakeModel(served_name=XSS, answer=XSS)) as hostile:
        page = tab.page
        tab.goto("/owners")
        get_token(page)
        extra = (
            {"aliases": f"{XSS}, <script>alert(2)</script>"}
            if page.locator("#model-aliases").count()
            else {}
        )
        fill(
            page,
            hostile.base_url,
            name=f"Evil {XSS}"[:200],
            organization=f"Org {XSS}",
            api_model="evil/model",
            **extra,
        )
        page.get_by_role("button", name="Register and verify").click()
        rep = report(page, "Evil")
        expect(rep).to_have_attribute("data-status", "rejected", timeout=30_000)
    models = page.get_by_test_id("owner-models")
    expect(rep.locator('li[data-check="models"] .check-detail')).to_contain_text(XSS)
    expect(models).to_contain_text(f"Evil {XSS}")
    expect(models).to_contain_text(f"Org {XSS}")
    for tag in ("img", "script", "[onerror]"):
        expect(page.locator(f"main {tag}")).to_have_count(0)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert tab.watch.dialogs == []


@sqlite_only
@pytest.mark.parametrize("context_options", [PHONE], indirect=True)
def test_phone_width(tab: Tab, live: LiveServer, endpoint: FakeServer) -> None:
    page = tab.page
    tab.goto("/owners")
    get_token(page)
    fill(page, endpoint.base_url)
    page.get_by_role("button", name="Register and verify").tap()
    expect(report(page, "Acme-7B")).to_have_attribute("data-status", "verified", timeout=30_000)
    widths = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
    assert widths[0] <= widths[1], widths
    publish(tab, "owners-phone")


@sqlite_only
@pytest.mark.parametrize("context_options", [{"color_scheme": "dark"}], indirect=True)
def test_dark_scheme(tab: Tab, live: LiveServer, endpoint: FakeServer) -> None:
    page = tab.page
    tab.goto("/owners")
    get_token(page)
    fill(page, endpoint.base_url)
    page.get_by_role("button", name="Register and verify").click()
    expect(report(page, "Acme-7B")).to_have_attribute("data-status", "verified", timeout=30_000)
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(17, 19, 24)"
    publish(tab, "owners-dark")
