"""Hostile answers in a real browser: nothing they carry may run, load or navigate."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from web_support import Tab, sqlite_only

from tests.battles.support import Backends

pytestmark = pytest.mark.browser

PAYLOAD = (
    "Sure! <script>window.__xss = 1; alert('script')</script>\n\n"
    '<img src="x" onerror="window.__xss = 2; alert(\'img\')">\n\n'
    "[click me](javascript:window.__xss=3;alert('link'))\n\n"
    '<a href="javascript:alert(4)">raw link</a> <iframe src="javascript:alert(5)"></iframe>\n\n'
    "![tracker](http://127.0.0.1:9/pixel.png) "
    '<svg onload="alert(6)"></svg> <style>body{display:none}</style>\n\n'
    "[a real link](https://example.com/docs) and **bold** text.\n\n"
    "```html\n<script>alert('in code')</script>\n```\n"
)


@sqlite_only
def test_xss_payload_in_answers_does_not_execute(tab: Tab, backends: Backends) -> None:
    backends.alpha.model.answer = PAYLOAD
    backends.beta.model.answer = PAYLOAD
    page = tab.page
    tab.goto("/")
    page.get_by_test_id("prompt").fill("Show me some HTML")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("vote-A")).to_be_enabled()
    # Rendered Markdown has replaced the streamed text in both panes.
    expect(page.locator(".pane-body .md strong", has_text="bold")).to_have_count(2)
    expect(page.locator(".pane-body .md.streaming")).to_have_count(0)

    for side in "AB":
        pane = page.get_by_test_id(f"pane-{side}")
        for tag in ("script", "img", "iframe", "svg", "style", "[onerror]", "[onload]"):
            expect(pane.locator(tag)).to_have_count(0)
        # The markup is shown as text, not interpreted.
        expect(pane).to_contain_text("<script>window.__xss = 1;")
        expect(pane).to_contain_text("[image: tracker]")
        hrefs = pane.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert hrefs == ["https://example.com/docs"]
        rel = pane.locator("a").get_attribute("rel") or ""
        assert {"noopener", "nofollow"} <= set(rel.split())
        expect(pane.locator("pre.highlight")).to_have_count(1)

    # Clicking the would-be javascript: link text does nothing either.
    page.get_by_test_id("pane-A").get_by_text("click me").first.click()
    page.get_by_test_id("pane-A").get_by_text("raw link").first.click()

    # Reloaded, the server-rendered page is just as inert.
    page.reload()
    expect(page.locator(".pane-body .md strong", has_text="bold")).to_have_count(2)
    expect(page.locator(".pane-body script, .pane-body img")).to_have_count(0)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert tab.watch.dialogs == []
    tab.shot("battle-xss")
