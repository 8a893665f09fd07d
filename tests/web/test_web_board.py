"""The leaderboard and model pages in Chromium, after real votes and with seeded history."""

from __future__ import annotations

import re

import numpy as np
import pytest
from playwright.sync_api import Page, expect
from web_support import SEED_MODELS, LiveServer, Tab, seed_history, sqlite_only

from arena.db import session_scope
from arena.models.tables import ModelEndpoint
from arena.web.templating import DASH

pytestmark = pytest.mark.browser


def battle_and_vote(page: Page, base: str, winner: str) -> None:
    page.goto(base + "/")
    page.get_by_test_id("prompt").fill("Which is the largest planet?")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id(f"vote-{winner}")).to_be_enabled()
    page.get_by_test_id(f"vote-{winner}").click()
    expect(page.get_by_test_id("reveal")).to_be_visible()


@sqlite_only
def test_leaderboard_and_model_page_after_votes(tab: Tab, live: LiveServer) -> None:
    with session_scope(live.sessionmaker) as session:
        beta = session.query(ModelEndpoint).filter_by(name="Beta-3B").one()
        beta.license = "proprietary"
    page = tab.page
    tab.goto("/leaderboard")
    expect(page.locator(".empty")).to_contain_text("No ratings yet")

    for winner in ("tie", "A", "B"):
        battle_and_vote(page, live.url, winner)
    snapshot = live.recompute()
    assert snapshot is not None

    tab.goto("/leaderboard")
    table = page.get_by_test_id("leaderboard-table")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table).to_contain_text("Alpha-7B")
    expect(table).to_contain_text("Beta-3B")
    expect(table.locator(".badge-open")).to_have_text("Open")
    expect(table.locator(".badge-proprietary")).to_have_text("Proprietary")
    expect(table.locator("svg.ci .ci-bar")).to_have_count(2)
    meta = page.get_by_test_id("snapshot")
    expect(meta).to_contain_text(f"Snapshot #{snapshot}")
    expect(meta).to_contain_text("3 votes")
    expect(page.get_by_role("link", name=re.compile("snapshot #"))).to_have_attribute(
        "href", f"/api/v1/snapshots/{snapshot}"
    )
    expect(page.get_by_role("link", name="all votes (CSV)")).to_have_attribute(
        "href", "/api/v1/exports/votes?format=csv"
    )
    snap = page.request.get(f"{live.url}/api/v1/snapshots/{snapshot}").json()
    assert snap["votes_included"] == 3

    # Filters are a plain GET form; the script submits on change.
    page.get_by_label("Licence").select_option("open")
    expect(page).to_have_url(re.compile(r"license=open"))
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text("Alpha-7B")
    expect(page.get_by_label("Licence")).to_have_value("open")
    page.get_by_role("link", name="Clear filters").click()
    page.get_by_label("Organization").select_option("Betacorp")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text("Beta-3B")

    table.get_by_role("link", name="Beta-3B").click()
    expect(page).to_have_url(live.url + "/models/Beta-3B")
    expect(page.get_by_role("heading", level=1)).to_have_text("Beta-3B")
    expect(page.get_by_test_id("model-battles")).to_have_text("3")
    rates = page.get_by_test_id("win-rates")
    expect(rates.locator("tbody tr")).to_have_count(1)
    expect(rates).to_contain_text("Alpha-7B")
    expect(page.get_by_test_id("history-chart").locator("circle.dot")).to_have_count(1)

    response = tab.goto("/models/No-Such-Model")
    assert response is not None and response.status == 404
    expect(page.locator(".error-page")).to_contain_text("There is no model with this name")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


@sqlite_only
def test_leaderboard_and_model_page_with_history(tab: Tab, live: LiveServer) -> None:
    seed_history(live, rounds=6, votes_per_round=120, rng=np.random.default_rng(7))
    page = tab.page
    tab.goto("/leaderboard")
    rows = page.get_by_test_id("leaderboard-table").locator("tbody tr")
    expect(rows).to_have_count(len(SEED_MODELS))
    expect(rows.last).to_contain_text("TinyLlama-1.1B")
    tab.shot("leaderboard")

    tab.goto("/models/Qwen2.5-7B")
    expect(page.get_by_test_id("history-chart").locator("circle.dot")).to_have_count(6)
    expect(page.get_by_test_id("win-rates").locator("tbody tr")).to_have_count(len(SEED_MODELS) - 1)
    expect(page.locator(".heat")).to_have_count(len(SEED_MODELS) - 1)
    tab.shot("model-page")


BOARD_MODELS = {"Orca-13B": 1.0, "Puffin-7B": 0.55, "Quail-3B": 0.1, "Raven-1B": -0.5}


def seed_boards(live: LiveServer, rounds: int = 2) -> None:
    """Votes with categories, style features and timed answers; a recompute per round,
    back-dated a day apart."""
    from datetime import timedelta

    from sqlalchemy import update

    from arena.db import utcnow
    from arena.leaderboard.tables import LeaderboardSnapshot
    from tests.boards.support import seed

    ids = None
    for i in range(rounds):
        with session_scope(live.sessionmaker) as session:
            ids = seed(
                session, 300, rng_seed=i, ids=ids, answers=True, key=f"r{i}-",
                strength=BOARD_MODELS,
            ).ids  # fmt: skip
        snap = live.recompute()
        assert snap is not None
        with session_scope(live.sessionmaker) as session:
            session.execute(
                update(LeaderboardSnapshot)
                .where(LeaderboardSnapshot.id >= snap)
                .values(computed_at=utcnow() - timedelta(days=rounds - 1 - i))
            )


@sqlite_only
def test_board_views_categories_and_marks(tab: Tab, live: LiveServer) -> None:
    live.settings.category_min_votes = 150
    live.settings.rating_anchor = "Quail-3B=1200"
    seed_boards(live)
    page = tab.page
    battles = sorted(
        m["battles"] for m in page.request.get(f"{live.url}/api/v1/leaderboard").json()["models"]
    )
    live.settings.provisional_votes = battles[1] + 1  # read per request: some rows, not all
    tab.goto("/leaderboard")
    table = page.get_by_test_id("leaderboard-table")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(len(BOARD_MODELS))
    expect(page.get_by_test_id("scale")).to_have_text("anchored: Quail-3B = 1200")
    picker = page.get_by_test_id("view-picker")
    expect(picker.get_by_label("Default")).to_be_checked()
    categories = page.get_by_test_id("category-picker")
    expect(categories.locator("option[data-hidden]")).to_have_count(1)
    expect(categories.locator("option[data-hidden]")).to_contain_text("math")
    expect(categories.locator("option[data-hidden]")).to_contain_text("fewer than 150 votes")
    expect(categories.locator("option", has_text="coding")).not_to_have_attribute(
        "data-hidden", "true"
    )
    board = page.request.get(f"{live.url}/api/v1/leaderboard").json()
    provisional = [m["model"] for m in board["models"] if m["provisional"]]
    assert 0 < len(provisional) < len(BOARD_MODELS)
    expect(table.get_by_test_id("provisional")).to_have_count(len(provisional))
    for m in board["models"][:-1]:
        cell = rows.filter(has_text=m["model"]).locator('[data-col="robustness"]')
        expect(cell).to_have_text(str(m["robustness"]))
    expect(rows.last.locator('[data-col="robustness"]')).to_have_text(DASH)
    expect(rows.first.locator('[data-col="ttft"]')).to_contain_text(" ms")
    expect(rows.filter(has_text="Orca-13B").locator('[data-col="parameters"]')).to_have_text("13B")
    expect(rows.filter(has_text="Raven-1B").locator('[data-col="parameters"]')).to_have_text(DASH)
    expect(page.locator("#robustness-note")).to_contain_text("fewest counted votes")
    tab.shot("board-default")

    # The view toggle by keyboard: arrow keys move between the radios and apply at once.
    picker.get_by_label("Default").focus()
    page.keyboard.press("ArrowRight")
    expect(page).to_have_url(re.compile(r"view=style"))
    expect(picker.get_by_label("Style control")).to_be_checked()
    coefs = page.get_by_test_id("style-coefficients")
    expect(coefs.locator("tbody tr")).to_have_count(4)
    expect(coefs).to_contain_text("Answer length (tokens)")
    expect(page.get_by_role("heading", level=1)).to_contain_text("style control")
    tab.shot("board-style")

    categories.select_option("math")
    expect(page).to_have_url(re.compile(r"category=math"))
    expect(page.get_by_test_id("hidden-category")).to_contain_text("fewer than 150")
    expect(page.get_by_test_id("category-picker")).to_have_value("math")
    # style control covers all votes: a category shows its default board, and says so
    expect(page.get_by_test_id("view-notice")).to_contain_text("all votes only")
    expect(page.get_by_test_id("view-picker").get_by_label("Default")).to_be_checked()

    with session_scope(live.sessionmaker) as session:
        raven = session.query(ModelEndpoint).filter_by(name="Raven-1B").one()
        raven.status = "retired"
    tab.goto("/leaderboard")
    expect(rows).to_have_count(len(BOARD_MODELS) - 1)
    expect(table).not_to_contain_text("Raven-1B")
    page.get_by_label("Show retired").check()
    expect(page).to_have_url(re.compile(r"include_retired=1"))
    expect(rows).to_have_count(len(BOARD_MODELS))
    expect(rows.filter(has_text="Raven-1B").get_by_test_id("retired")).to_have_text("retired")
    tab.shot("board-retired")


@sqlite_only
def test_model_page_band_and_style_toggle(tab: Tab, live: LiveServer) -> None:
    seed_boards(live, rounds=3)
    page = tab.page
    tab.goto("/models/Puffin-7B")
    chart = page.get_by_test_id("history-chart")
    expect(chart.locator("circle.dot")).to_have_count(3)
    band = page.get_by_test_id("history-band")
    box = band.bounding_box()
    line = chart.locator("path.line").bounding_box()
    assert box is not None and line is not None
    # the band spans the interval around the line, so it is taller than the line itself
    assert box["height"] > line["height"] and box["width"] >= line["width"] - 12
    # shaded: see-through, so the line and the grid show through it
    opacity = page.evaluate(
        "getComputedStyle(document.querySelector('[data-testid=history-band]')).opacity"
    )
    assert 0 < float(opacity) < 1
    tab.shot("model-band")
    page.get_by_test_id("view-picker").get_by_label("Style control").check()
    expect(page).to_have_url(re.compile(r"/models/Puffin-7B\?view=style"))
    expect(page.get_by_role("heading", name=re.compile("style control"))).to_be_visible()
    expect(chart.locator("circle.dot")).to_have_count(3)
    style = page.request.get(f"{live.url}/api/v1/leaderboard?view=style").json()
    puffin = next(m for m in style["models"] if m["model"] == "Puffin-7B")
    expect(page.get_by_test_id("model-rating")).to_contain_text(f"{puffin['rating']:.0f}")


@sqlite_only
@pytest.mark.parametrize(
    "context_options", [{"viewport": {"width": 375, "height": 740}}], indirect=True
)
def test_board_pages_fit_a_phone(tab: Tab, live: LiveServer) -> None:
    seed_boards(live)
    page = tab.page
    for path in ("/leaderboard", "/leaderboard?view=style", "/models/Quail-3B"):
        tab.goto(path)
        expect(page.get_by_test_id("view-picker")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, (path, width)
    tab.shot("board-phone")


@sqlite_only
def test_message_box_limit_follows_the_setting(tab: Tab, live: LiveServer) -> None:
    live.settings.max_message_chars = 120
    page = tab.page
    tab.goto("/")
    box = page.get_by_test_id("prompt")
    expect(box).to_have_attribute("maxlength", "120")
    expect(page.get_by_test_id("prompt-count")).to_have_text("0 / 120 characters")
    box.fill("x" * 500)
    expect(box).to_have_value("x" * 120)
    box.press_sequentially("y")
    expect(page.get_by_test_id("prompt-count")).to_have_text("120 / 120 characters")
