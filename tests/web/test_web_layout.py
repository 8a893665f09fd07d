"""Phone width and dark scheme: the pages stay usable and readable."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Page, expect
from web_support import LiveServer, Tab, seed_history, sqlite_only

from tests.battles.support import Backends

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}
DARK = {"color_scheme": "dark"}
LONG_ANSWER = (
    "Here is a long line of code:\n\n```python\nvalue = '"
    + "x" * 240
    + "'\nprint(value)\n```\n\nAnd a long word: "
    + "y" * 200
    + "\n\n| a | b | c | d | e | f |\n|---|---|---|---|---|---|\n| 1 | 2 | 3 | 4 | 5 | 6 |\n"
)


def no_horizontal_scroll(page: Page) -> None:
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], widths


def luminance(page: Page, selector: str, prop: str = "backgroundColor") -> float:
    rgb: list[float] = page.evaluate(
        "([sel, prop]) => getComputedStyle(document.querySelector(sel))[prop]"
        ".match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number)",
        [selector, prop],
    )
    return (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255


def play(page: Page) -> None:
    page.get_by_test_id("prompt").fill("Show me a long line of code")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("vote-A")).to_be_enabled()


@sqlite_only
@pytest.mark.parametrize("context_options", [PHONE], indirect=True)
def test_phone_width(
    tab: Tab, live: LiveServer, backends: Backends, context_options: dict[str, Any]
) -> None:
    backends.alpha.model.answer = LONG_ANSWER
    # Seeded first: the battle's single vote alone would leave the comparison graph split.
    seed_history(live, rounds=3, votes_per_round=80, rng=np.random.default_rng(3))
    page = tab.page
    tab.goto("/")
    no_horizontal_scroll(page)
    play(page)
    no_horizontal_scroll(page)
    # The panes stack: B sits below A.
    a = page.get_by_test_id("pane-A").bounding_box()
    b = page.get_by_test_id("pane-B").bounding_box()
    assert a is not None and b is not None and b["y"] > a["y"] + a["height"] - 1
    page.get_by_test_id("vote-B").tap()
    expect(page.get_by_test_id("reveal")).to_be_visible()
    no_horizontal_scroll(page)
    tab.shot("phone-battle")

    for path in ("/leaderboard", "/models/Mistral-7B", "/no-such-page"):
        tab.goto(path)
        no_horizontal_scroll(page)
    tab.goto("/leaderboard")
    tab.shot("phone-leaderboard")


@sqlite_only
@pytest.mark.parametrize("context_options", [DARK], indirect=True)
def test_dark_scheme(tab: Tab, live: LiveServer, context_options: dict[str, Any]) -> None:
    seed_history(live, rounds=4, votes_per_round=100, rng=np.random.default_rng(5))
    page = tab.page
    tab.goto("/")
    play(page)
    page.get_by_test_id("vote-A").click()
    expect(page.get_by_test_id("reveal")).to_be_visible()
    assert luminance(page, "body") < 0.15
    assert luminance(page, "body", "color") > 0.8
    assert luminance(page, ".pane") < 0.2
    tab.shot("dark-battle")

    tab.goto("/leaderboard")
    assert luminance(page, ".table-wrap") < 0.2
    tab.shot("dark-leaderboard")
    tab.goto("/models/Gemma-2-9B")
    tab.shot("dark-model-page")
