"""The /data page: every download with its size and documented columns, the licence, and per
snapshot a command whose every piece is run here (download, sha256, refit), so the page
cannot say what does not work."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import func, select
from web_support import LiveServer

from arena.cli.snapshots import refit
from arena.db import session_scope
from arena.exports.columns import PREFERENCE_COLUMNS, SNAPSHOT_COLUMNS, VOTE_COLUMNS
from arena.exports.history import HISTORY_COLUMNS
from arena.leaderboard.loop import recompute_once
from arena.leaderboard.tables import LeaderboardSnapshot
from arena.settings import Settings
from arena.web.data_page import PAGE, SAMPLE, human_size
from arena.web.templating import asset
from tests.battles.support import Backends, register
from tests.snapshots.support import assert_same_rows, seed_votes

HTML = {"Accept": "text/html"}
COLUMNS = {
    "votes": VOTE_COLUMNS,
    "preferences": PREFERENCE_COLUMNS,
    "snapshots": SNAPSHOT_COLUMNS,
    "history": HISTORY_COLUMNS,
}


class DataPage(HTMLParser):
    """What /data shows: per download its rows, links and column rows; per snapshot its
    sha256, links and command."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.downloads: dict[str, dict[str, Any]] = {}
        self.snapshots: dict[int, dict[str, Any]] = {}
        self.links: list[str] = []
        self._item: dict[str, Any] | None = None
        self._column: list[str] | None = None
        self._text: list[str] | None = None
        self._into = ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(str(a["href"]))
        if "data-download" in a:
            self._item = {"columns": [], "links": {}}
            self.downloads[str(a["data-download"])] = self._item
        elif "data-snapshot" in a:
            self._item = {"links": {}}
            self.snapshots[int(str(a["data-snapshot"]))] = self._item
        if self._item is None:
            return
        if "data-rows" in a:
            self._item["rows"] = int(str(a["data-rows"]))
        if "data-format" in a:
            self._item["links"][a["data-format"]] = (a["href"], int(str(a["data-size"])))
        if "data-column" in a:
            self._column = []
            self._item["columns"].append(self._column)
        if tag in ("th", "td") and self._column is not None:
            self._text, self._into = [], "cell"
        if "data-command" in a or "data-sha256" in a:
            self._text, self._into = [], "command" if "data-command" in a else "sha256"

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._column = None
        if self._text is None or self._item is None:
            return
        text = "".join(self._text).strip()
        if self._into == "cell" and tag in ("th", "td") and self._column is not None:
            self._column.append(text)
            self._text = None
        elif self._into in ("command", "sha256") and tag in ("pre", "code"):
            self._item[self._into] = text
            self._text = None


async def get_page(client: httpx.AsyncClient, path: str = "/data") -> DataPage:
    r = await client.get(path, headers=HTML)
    assert r.status_code == 200, r.text
    return DataPage(r.text)


async def play(client: httpx.AsyncClient, winner: str, prompt: str) -> None:
    battle = (await client.post("/api/v1/battles", json={})).json()["battle_id"]
    r = await client.post(f"/api/v1/battles/{battle}/messages", json={"content": prompt})
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/battles/{battle}/vote", json={"winner": winner})
    assert r.status_code == 200, r.text


def test_every_column_has_a_description() -> None:
    for columns in COLUMNS.values():
        assert len(set(columns.names)) == len(columns.names)
        for name, kind, meaning in columns.documented():
            assert kind in ("int64", "float64", "bool", "string"), name
            assert len(meaning) > 10 and meaning == meaning.strip(), name
    # A subset (an older vote set's columns) keeps each column's own description.
    sub = VOTE_COLUMNS.only(["winner", "vote_id"])
    assert sub.documented() == [
        c for n in ("winner", "vote_id") for c in VOTE_COLUMNS.documented() if c[0] == n
    ]


def test_human_sizes() -> None:
    assert [human_size(n) for n in (0, 999, 1000, 1234, 9950, 999_499, 999_500, 12_345_678)] == [
        "0 B", "999 B", "1.0 kB", "1.2 kB", "10 kB", "999 kB", "1.0 MB", "12 MB",
    ]  # fmt: skip


async def test_columns_on_the_page_are_the_export_definitions(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    page = await get_page(client)
    assert list(page.downloads) == list(COLUMNS)
    for kind, columns in COLUMNS.items():
        shown = [tuple(row) for row in page.downloads[kind]["columns"]]
        assert shown == columns.documented(), kind
    assert page.snapshots == {}
    assert page.links.count("/data") == 2  # header navigation and footer


async def test_sizes_are_the_downloads_sizes(
    app: FastAPI, client: httpx.AsyncClient, backends: Backends
) -> None:
    """Below SAMPLE rows the sample is every row, so each estimate is the real size."""
    register(app, backends)
    for i, winner in enumerate(["A", "B", "tie", "A", "bothbad", "B", "A"]):
        await play(client, winner, f"Question number {i}: what is {i} squared?")
    assert recompute_once(app.state.sessionmaker, app.state.settings) is not None
    page = await get_page(client)
    # two models; every board of the recompute (headline, style, categories) in snapshots
    rows = {"votes": 7, "preferences": 5, "history": 2}
    for kind, item in page.downloads.items():
        assert item["rows"] == rows.get(kind, item["rows"]), kind
        assert set(item["links"]) == {"jsonl", "csv", "parquet"}
        for fmt, (url, size) in item["links"].items():
            body = (await client.get(url)).content
            assert size == len(body), (kind, fmt)
            if fmt == "jsonl":
                assert body.count(b"\n") == item["rows"], kind
    assert page.downloads["snapshots"]["rows"] == 2 * len(page.snapshots) > 2
    for snap_id, snap in page.snapshots.items():
        for fmt, (url, size) in snap["links"].items():
            assert url == f"/api/v1/snapshots/{snap_id}/votes?format={fmt}"
            assert size == len((await client.get(url)).content), (snap_id, fmt)


async def test_sizes_beyond_the_sample_are_estimates(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    with session_scope(app.state.sessionmaker) as s:
        seed_votes(s, SAMPLE * 3, seed=5)
    assert recompute_once(app.state.sessionmaker, app.state.settings) is not None
    r = await client.get("/data", headers=HTML)
    assert f'data-rows="{SAMPLE * 3}">{SAMPLE * 3:,} rows' in r.text  # counted, not estimated
    # Seeded votes have no stored conversation: the sample says so, the page says about 0.
    assert 'data-rows="0">about 0 rows' in r.text
    page = DataPage(r.text)
    votes = page.downloads["votes"]
    assert votes["rows"] == SAMPLE * 3
    for fmt, (url, size) in votes["links"].items():
        real = len((await client.get(url)).content)
        # Parquet's compression depends on the rows a sample cannot show: a looser bound.
        assert abs(size - real) <= real * (0.35 if fmt == "parquet" else 0.05), (fmt, size, real)
    snap = page.snapshots[(await client.get("/api/v1/leaderboard")).json()["snapshot_id"]]
    url, size = snap["links"]["jsonl"]
    real = len((await client.get(url)).content)
    assert abs(size - real) <= 0.1 * real


async def test_the_shown_command_reproduces_the_snapshot(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    app.state.settings.rating_anchor = "Beta-3B=1200"
    with session_scope(app.state.sessionmaker) as s:
        seed_votes(s, 240, seed=3)
    snap_id = recompute_once(app.state.sessionmaker, app.state.settings)
    assert snap_id is not None
    meta = (await client.get(f"/api/v1/snapshots/{snap_id}")).json()
    snap = (await get_page(client)).snapshots[snap_id]
    assert snap["sha256"] == meta["sha256"]

    download, check, fit = snap["command"].split(" && ")
    name = f"snapshot-{snap_id}-votes.jsonl"
    url = f"http://testserver/api/v1/snapshots/{snap_id}/votes?format=jsonl"
    assert shlex.split(download) == ["curl", "-sf", url, "-o", name]
    body = (await client.get(url)).content
    (tmp_path / name).write_bytes(body)

    echo, sha256sum = check.split(" | ")
    assert shlex.split(sha256sum) == ["sha256sum", "-c", "-"]
    [_, line] = shlex.split(echo)
    assert line == f"{meta['sha256']}  {name}"
    assert hashlib.sha256(body).hexdigest() == meta["sha256"]

    argv = shlex.split(fit)
    assert argv[:5] == ["arena", "ratings", "fit", name, "--json"]
    assert argv[5:] == meta["fit_args"] == ["--anchor", "Beta-3B=1200"]
    board = (await client.get("/api/v1/leaderboard")).json()
    assert board["snapshot_id"] == snap_id
    assert_same_rows(refit(tmp_path / name, argv[5:]), board["models"])

    # Every board of the recompute (the style view too) by its own line.
    page = await get_page(client)
    exported = [
        json.loads(x) for x in (await client.get("/api/v1/exports/snapshots")).content.splitlines()
    ]
    assert len(page.snapshots) > 1
    for other, shown in page.snapshots.items():
        download, check, fit = shown["command"].split(" && ")
        url = shlex.split(download)[2]
        body = (await client.get(url)).content
        assert shlex.split(check.split(" | ")[0])[1].split()[0] == hashlib.sha256(body).hexdigest()
        argv = shlex.split(fit)
        (tmp_path / argv[3]).write_bytes(body)
        rows = [r for r in exported if r["snapshot_id"] == other]
        assert_same_rows(refit(tmp_path / argv[3], argv[5:]), rows)


async def test_snapshots_newest_first_in_pages(app: FastAPI, client: httpx.AsyncClient) -> None:
    with session_scope(app.state.sessionmaker) as s:
        for _ in range(PAGE + 2):  # older boards, from before vote sets were recorded
            s.add(
                LeaderboardSnapshot(
                    view="default", category=None, method="bradley-terry", params={},
                    fit_args=[], vote_watermark=0, vote_set_id=None, sha256="0" * 64,
                    votes_included=0,
                )
            )  # fmt: skip
        seed_votes(s, 60, seed=1)
    headline = recompute_once(app.state.sessionmaker, app.state.settings)
    assert headline == PAGE + 3  # then the recompute's other boards (style, categories)
    with session_scope(app.state.sessionmaker) as s:
        total = s.scalar(select(func.count()).select_from(LeaderboardSnapshot))
    assert total is not None and total > headline
    first = await get_page(client)
    assert list(first.snapshots) == list(range(total, total - PAGE, -1))
    assert set(first.snapshots[headline]["links"]) == {"jsonl", "csv", "parquet"}
    assert first.snapshots[PAGE + 2]["links"] == {}
    older = [link for link in first.links if "before=" in link]
    assert older == [f"/data?before={total - PAGE + 1}#snapshots-title"]
    r = await client.get(older[0].split("#")[0], headers=HTML)
    assert "before vote sets were recorded" in r.text
    second = DataPage(r.text)
    assert list(second.snapshots) == list(range(total - PAGE, 0, -1))
    assert not [link for link in second.links if "before=" in link]
    assert "/data#snapshots-title" in second.links


@pytest.mark.parametrize("before", ["abc", "0", "-3", "1.5", "٣", "9" * 25])
async def test_a_bad_cursor_is_a_clear_400(client: httpx.AsyncClient, before: str) -> None:
    r = await client.get("/data", params={"before": before}, headers=HTML)
    assert r.status_code == 400
    assert "before must be a snapshot id" in r.text and "Traceback" not in r.text
    r = await client.get("/data", params={"before": before})
    assert r.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_licence_is_on_the_page_and_every_download(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    app.state.settings.data_license = "CC0-1.0"
    r = await client.get("/data", headers=HTML)
    assert 'href="https://spdx.org/licenses/CC0-1.0.html" rel="license"' in r.text
    for path in ("/api/v1/exports/votes", "/api/v1/exports/preferences"):
        link = (await client.get(path, params={"format": "csv"})).headers["link"]
        assert link == '<https://spdx.org/licenses/CC0-1.0.html>; rel="license"'
    assert Settings().data_license == "CC-BY-4.0"
    for bad in ("", "CC BY 4.0", '"><script>', "x" * 101):
        with pytest.raises(ValidationError):
            Settings(data_license=bad)


def test_the_command_runs_in_a_shell(settings: Settings, tmp_path: Path) -> None:
    """The line exactly as shown, pasted into bash: curl, sha256sum, the installed CLI."""
    settings = settings.model_copy(update={"rating_anchor": "Beta-3B=1200"})
    with LiveServer(settings) as live:
        with session_scope(live.sessionmaker) as s:
            seed_votes(s, 120, seed=9)
        snap_id = live.recompute()
        assert snap_id is not None
        text = httpx.get(live.url + "/data", headers=HTML).text
        board = httpx.get(live.url + "/api/v1/leaderboard").json()
        command = DataPage(text).snapshots[snap_id]["command"]
        assert command.startswith(f"curl -sf '{live.url}/api/v1/snapshots/{snap_id}/votes")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        run = {"env": env, "capture_output": True, "text": True, "timeout": 120}
        proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, **run)  # type: ignore[call-overload]
        # A file that is not the snapshot's download stops the line before the refit.
        (tmp_path / "other").mkdir()
        wrong = command.replace("votes?format=jsonl", "votes?format=csv", 1)
        failed = subprocess.run(["bash", "-c", wrong], cwd=tmp_path / "other", **run)  # type: ignore[call-overload]
    assert proc.returncode == 0, proc.stderr
    ok, _, rows = proc.stdout.partition("\n")
    assert ok == f"snapshot-{snap_id}-votes.jsonl: OK"
    assert_same_rows(json.loads(rows), board["models"])
    assert failed.returncode == 1 and failed.stdout.startswith(
        f"snapshot-{snap_id}-votes.jsonl: FAILED"
    )
    assert "[" not in failed.stdout  # no refit printed


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_page_is_under_the_strict_csp(client: httpx.AsyncClient) -> None:
    r = await client.get("/data", headers=HTML)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    scripts = re.findall(r"<script\b([^>]*)>", r.text)
    assert scripts == [f' type="module" src="{asset("data.js")}"']
    assert " style=" not in r.text and "<style" not in r.text and " on" + "click=" not in r.text
    assert '<a href="/data" aria-current="page">Data</a>' in r.text
