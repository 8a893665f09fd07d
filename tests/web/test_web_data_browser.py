"""The /data page in Chromium: downloads with sizes and columns, a snapshot's links saving
real files that match it, the copy button, the keyboard, a phone's width, the dark scheme."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from owner_support import check_keyboard_and_labels
from playwright.sync_api import Page, expect
from web_support import LiveServer, Tab, sqlite_only

from arena.db import session_scope
from arena.exports.columns import VOTE_COLUMNS
from tests.snapshots.support import add_models, seed_votes

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}
CLIPBOARD = {"permissions": ["clipboard-read", "clipboard-write"]}


def seed_board(live: LiveServer, votes: int = 120) -> int:
    """Seeded votes among three models, two real battles (so preference pairs exist), a
    snapshot."""
    with session_scope(live.sessionmaker) as s:
        add_models(s, ["Gamma-1B"])
    with session_scope(live.sessionmaker) as s:
        seed_votes(s, votes, seed=11)
    with httpx.Client(base_url=live.url, headers={"Origin": live.url}, timeout=30) as client:
        for winner in ("A", "B"):
            battle = client.post("/api/v1/battles", json={}).json()["battle_id"]
            prompt = {"content": "Name a prime number."}
            assert client.post(f"/api/v1/battles/{battle}/messages", json=prompt).is_success
            assert client.post(f"/api/v1/battles/{battle}/vote", json={"winner": winner}).is_success
    snap = live.recompute()
    assert snap is not None
    return snap


def open_all_columns(page: Page) -> None:
    for summary in page.locator("details.columns > summary").all():
        summary.click()


@pytest.mark.parametrize("context_options", [CLIPBOARD], indirect=True)
def test_data_page_in_a_browser(tab: Tab, live: LiveServer, tmp_path: Path) -> None:
    snap = seed_board(live)
    page = tab.page
    tab.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Data").click()
    expect(page).to_have_url(live.url + "/data")
    expect(page.get_by_role("heading", level=1)).to_have_text("Data")
    expect(page.get_by_test_id("data-license")).to_contain_text("CC-BY-4.0")

    downloads = page.get_by_test_id("data-downloads")
    expect(downloads.locator("article")).to_have_count(4)
    votes = downloads.locator('[data-download="votes"]')
    expect(votes.locator("h3")).to_contain_text("122 rows")
    expect(votes.locator(".formats li")).to_have_text(
        [re.compile(rf"^{fmt} about [\d.]+ (B|kB|MB)$") for fmt in ("jsonl", "csv", "parquet")]
    )
    table = votes.locator("table.columns-table")
    expect(table).to_be_hidden()
    votes.locator("summary").click()
    expect(table.locator("tbody tr")).to_have_count(len(VOTE_COLUMNS.names))
    expect(table.locator('tr[data-column="winner"] td').last).to_have_text(
        VOTE_COLUMNS.documented()[5][2]
    )

    card = page.locator(f'[data-snapshot="{snap}"]')
    shown_sha = card.locator("[data-sha256]").inner_text()
    files = {}
    for fmt in ("jsonl", "csv", "parquet"):
        with page.expect_download() as info:
            card.locator(f'a[data-format="{fmt}"]').click()
        files[fmt] = tmp_path / info.value.suggested_filename
        info.value.save_as(files[fmt])
    assert files["jsonl"].name == f"arena-snapshot-{snap}-votes.jsonl"
    assert hashlib.sha256(files["jsonl"].read_bytes()).hexdigest() == shown_sha
    counted = len(files["jsonl"].read_bytes().splitlines())
    assert pq.read_table(files["parquet"]).num_rows == counted
    assert pacsv.read_csv(files["csv"]).num_rows == counted
    expect(card.locator(".facts")).to_contain_text(f"{counted:,}")

    card.get_by_role("button", name="Copy command").click()
    expect(card.get_by_role("status")).to_have_text("Copied to the clipboard.")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == card.locator("[data-command]").inner_text().strip()
    assert copied.startswith(f"curl -sf '{live.url}/api/v1/snapshots/{snap}/votes?format=jsonl'")

    check_keyboard_and_labels(page)
    page.locator("details.columns > summary").first.focus()
    page.keyboard.press("Enter")  # a <details> opens and closes from the keyboard too
    expect(table).to_be_hidden()
    tab.shot("data-desktop")


@sqlite_only
@pytest.mark.parametrize("context_options", [PHONE], indirect=True)
def test_data_page_on_a_phone(tab: Tab, live: LiveServer) -> None:
    seed_board(live)
    page = tab.page
    tab.goto("/data")
    open_all_columns(page)
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], widths
    command = page.locator("[data-command]").first.bounding_box()
    assert command is not None and command["x"] + command["width"] <= 375
    tab.shot("data-phone")


@sqlite_only
@pytest.mark.parametrize("context_options", [{"color_scheme": "dark"}], indirect=True)
def test_data_page_dark(tab: Tab, live: LiveServer) -> None:
    seed_board(live, votes=60)
    page = tab.page
    tab.goto("/data")
    dark = page.evaluate(
        "() => getComputedStyle(document.body).backgroundColor"
        ".match(/\\d+/g).slice(0, 3).map(Number).every((c) => c < 40)"
    )
    assert dark
    tab.shot("data-dark", full_page=False)
