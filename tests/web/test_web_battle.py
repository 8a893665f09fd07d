"""The battle page in Chromium: ask, stream, follow up, vote by mouse and keyboard, reveal."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from web_support import LiveServer, Tab, sqlite_only

from arena.db import session_scope
from arena.votes.tables import Vote
from tests.battles.support import Backends

pytestmark = pytest.mark.browser

ALPHA = "Paris is the capital."
BETA = "The capital is Paris."
BATTLE_URL = re.compile(r"/battles/[0-9a-f]{32}$")


def panes_text(page: Page) -> str:
    return (
        page.get_by_test_id("pane-A").inner_text()
        + "\n"
        + page.get_by_test_id("pane-B").inner_text()
    )


def ask(page: Page, text: str) -> None:
    page.get_by_test_id("prompt").fill(text)
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("vote-A")).to_be_enabled()


def votes(page: Page) -> list[str]:
    return [f"vote-{w}" for w in ("A", "B", "tie", "bothbad")]


def test_full_battle_by_mouse(tab: Tab, live: LiveServer, backends: Backends) -> None:
    page = tab.page
    tab.goto("/")
    expect(page).to_have_title(re.compile("New battle"))
    expect(page.get_by_test_id("prompt")).to_be_focused()
    for testid in votes(page):
        expect(page.get_by_test_id(testid)).to_be_disabled()
    expect(page.get_by_test_id("reveal")).to_be_hidden()

    ask(page, "What is the capital of France?")
    expect(page).to_have_url(BATTLE_URL)
    text = panes_text(page)
    assert ALPHA in text and BETA in text
    # Once stored, the answers are shown as rendered Markdown (beta's **Paris**).
    expect(page.locator(".pane-body .md strong", has_text="Paris")).to_have_count(1)
    for testid in votes(page):
        expect(page.get_by_test_id(testid)).to_be_enabled()
    # Nothing names the models before the vote.
    assert "Alpha" not in page.content() and "Beta" not in page.content()

    ask(page, "And the capital of Italy?")
    for side in "AB":
        expect(page.get_by_test_id(f"pane-{side}").locator(".turn")).to_have_count(2)
    for server in (backends.alpha, backends.beta):
        roles = [m["role"] for m in server.requests[-1]["messages"]]
        assert roles == ["system", "user", "assistant", "user"]
    tab.shot("battle-answers")

    page.get_by_test_id("vote-A").click()
    reveal = page.get_by_test_id("reveal")
    expect(reveal).to_be_visible()
    expect(reveal).to_contain_text("Alpha-7B")
    expect(reveal).to_contain_text("Beta-3B")
    expect(reveal).to_contain_text("Alpha Labs")
    expect(reveal).to_contain_text("Betacorp")
    expect(reveal).to_contain_text("Your vote: A is better")
    names = {page.locator(f'.pane-name[data-name="{s}"]').inner_text() for s in "AB"}
    assert names == {"Alpha-7B", "Beta-3B"}
    for testid in votes(page):
        expect(page.get_by_test_id(testid)).to_be_disabled()
    expect(page.get_by_test_id("prompt")).to_be_disabled()
    tab.shot("battle-reveal")

    battle_id = page.url.rsplit("/", 1)[1]
    with session_scope(live.sessionmaker) as session:
        vote = session.scalar(select(Vote).where(Vote.battle_id == battle_id))
        assert vote is not None and vote.winner == "A" and vote.turns == 2

    page.get_by_test_id("new-battle").click()
    expect(page).to_have_url(live.url + "/")
    expect(page.get_by_test_id("pane-A").locator(".turn")).to_have_count(0)
    expect(page.get_by_test_id("reveal")).to_be_hidden()


@sqlite_only
def test_battle_by_keyboard(tab: Tab, live: LiveServer) -> None:
    page = tab.page
    tab.goto("/")
    expect(page.get_by_test_id("prompt")).to_be_focused()
    page.keyboard.type("Name a capital")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_test_id("vote-B")).to_be_enabled()

    # Letters typed into the message box are text, not votes.
    page.keyboard.type(" abtx1234")
    expect(page.get_by_test_id("reveal")).to_be_hidden()
    page.get_by_test_id("prompt").fill("")

    page.keyboard.press("Tab")
    expect(page.get_by_test_id("send")).to_be_focused()
    page.keyboard.press("b")
    reveal = page.get_by_test_id("reveal")
    expect(reveal).to_be_visible()
    expect(reveal).to_contain_text("Your vote: B is better")
    expect(reveal).to_be_focused()
    expect(page.get_by_test_id("vote-B")).to_have_class(re.compile("chosen"))

    page.keyboard.press("n")
    expect(page).to_have_url(live.url + "/")
    # A new battle; "/" jumps back to the message box from anywhere.
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("/")
    expect(page.get_by_test_id("prompt")).to_be_focused()


@sqlite_only
def test_battle_page_reloads(tab: Tab) -> None:
    page = tab.page
    tab.goto("/")
    ask(page, "What is the capital of France?")
    page.reload()
    expect(page).to_have_url(BATTLE_URL)
    # Server-rendered turn, sanitized Markdown included; the flow carries on.
    expect(page.locator(".pane-body .turn")).to_have_count(2)
    expect(page.locator(".pane-body .md strong", has_text="Paris")).to_have_count(1)
    expect(page.get_by_test_id("vote-tie")).to_be_enabled()

    ask(page, "Thanks. One more?")
    page.get_by_test_id("vote-tie").click()
    expect(page.get_by_test_id("reveal")).to_be_visible()

    page.reload()
    expect(page.get_by_test_id("reveal")).to_be_visible()
    expect(page.get_by_test_id("reveal")).to_contain_text("Your vote: Tie")
    expect(page.get_by_test_id("vote-tie")).to_be_disabled()
    expect(page.get_by_test_id("vote-tie")).to_have_class(re.compile("chosen"))
    expect(page.get_by_test_id("prompt")).to_be_disabled()
    expect(page.locator(".pane-body .turn")).to_have_count(4)


@sqlite_only
def test_one_side_failing_then_retry(tab: Tab, backends: Backends) -> None:
    page = tab.page
    backends.beta.model.fault = "error"
    backends.beta.model.fault_after = 2
    tab.goto("/")
    page.get_by_test_id("prompt").fill("What is the capital of France?")
    page.get_by_test_id("send").click()

    errors = page.locator(".pane-body .side-error")
    expect(errors).to_have_count(1)
    expect(page.get_by_test_id("send")).to_have_text("Retry")
    failed = page.locator(".pane-body", has=page.locator(".side-error"))
    healthy = page.locator(".pane-body", has_not=page.locator(".side-error"))
    expect(healthy).to_contain_text(ALPHA)
    message = errors.inner_text()
    assert "beta" not in message.lower() and "fp_" not in message
    assert "alpha" not in failed.inner_text().lower()
    for side in "AB":
        expect(page.get_by_test_id(f"vote-{side}")).to_be_disabled()
    expect(page.get_by_test_id("prompt")).to_have_value("What is the capital of France?")
    expect(page.locator("#notice")).to_contain_text("Retry")
    tab.shot("battle-one-side-failed")

    backends.beta.model.fault = None
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("vote-A")).to_be_enabled()
    expect(errors).to_have_count(0)
    expect(page.get_by_test_id("pane-A").locator(".turn")).to_have_count(1)
    assert ALPHA in panes_text(page) and BETA in panes_text(page)
    expect(page.get_by_test_id("send")).to_have_text("Send")
