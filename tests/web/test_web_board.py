"""The leaderboard and model pages in Chromium, after real votes and with seeded history."""

from __future__ import annotations

import re

import numpy as np
import pytest
from playwright.sync_api import Page, expect
from web_support import SEED_MODELS, LiveServer, Tab, seed_history, sqlite_only

from arena.db import session_scope
from arena.models.tables import ModelEndpoint

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
