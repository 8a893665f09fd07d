"""A snapshot's votes download hashes to its sha256 and refits with its fit_args."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI

from arena.db import session_scope, utcnow
from arena.exports.columns import VOTE_COLUMNS
from arena.leaderboard.loop import recompute_once
from arena.leaderboard.tables import LeaderboardSnapshot
from tests.snapshots.support import (
    assert_same_rows,
    download,
    fit_file,
    jsonl_rows,
    seed_votes,
    sha256,
)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
async def test_download_refits_to_the_snapshot(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, tmp_path: Path, fmt: str
) -> None:
    app.state.settings.rating_anchor = "Beta-3B=1200"
    with session_scope(app.state.sessionmaker) as s:
        seed_votes(s, 240, seed=3)
    snap = recompute_once(app.state.sessionmaker, app.state.settings)
    assert snap is not None
    meta = (await client.get(f"/api/v1/snapshots/{snap}")).json()
    assert meta["view"] == "default" and meta["category"] is None
    assert meta["fit_args"] == ["--anchor", "Beta-3B=1200"]
    assert meta["params"]["anchor"] == ["Beta-3B", 1200.0] and "prior" not in meta["params"]
    excluded = len(range(0, 240, 17))
    assert meta["votes_included"] == 240 - excluded
    assert meta["votes_excluded"] == {"too_fast": excluded}
    board = (await client.get("/api/v1/leaderboard")).json()
    assert board["snapshot_id"] == snap and board["view"] == "default"

    data = await download(client, snap, fmt)
    jsonl = await download(client, snap, "jsonl")
    assert sha256(jsonl) == meta["sha256"]
    if fmt == "jsonl":
        rows = jsonl_rows(data)
        assert [list(r) for r in rows[:1]] == [list(VOTE_COLUMNS.names)]
        assert all(r["included"] and r["exclusion_reason"] == "" for r in rows)
        assert all(r["excluded_at"] is None for r in rows)
        assert len(rows) == meta["votes_included"]
    else:
        table = (
            pq.read_table(io.BytesIO(data))
            if fmt == "parquet"
            else pacsv.read_csv(io.BytesIO(data))
        )
        assert table.num_rows == meta["votes_included"]
        assert table.column_names == list(VOTE_COLUMNS.names)
    path = tmp_path / f"snapshot.{fmt}"
    path.write_bytes(data)
    assert_same_rows(fit_file(path, meta["fit_args"], database_url), board["models"])


async def test_the_download_holds_exactly_the_counted_votes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    with session_scope(app.state.sessionmaker) as s:
        votes = seed_votes(s, 60)
        excluded = {v.id for v in votes if not v.included}
    snap = recompute_once(app.state.sessionmaker, app.state.settings)
    assert snap is not None
    ids = [r["vote_id"] for r in jsonl_rows(await download(client, snap, "jsonl"))]
    assert ids == sorted({v.id for v in votes} - excluded)
    live = jsonl_rows((await client.get("/api/v1/exports/votes")).content)
    assert [r["vote_id"] for r in live] == sorted(v.id for v in votes)
    for r in live:
        if r["vote_id"] in excluded:
            assert not r["included"] and r["exclusion_reason"] == "too_fast"
            assert r["excluded_at"] >= r["tstamp"]
        else:
            assert r["included"] and r["excluded_at"] is None


async def test_download_errors(app: FastAPI, client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/snapshots/999/votes")
    assert r.status_code == 404 and r.json()["error"]["code"] == "snapshot_not_found"
    r = await client.get("/api/v1/snapshots/abc/votes")
    assert r.status_code == 422 and r.json()["error"]["type"] == "invalid_request_error"
    with session_scope(app.state.sessionmaker) as s:
        seed_votes(s, 20)
        old = LeaderboardSnapshot(
            method="bradley-terry",
            params={},
            vote_watermark=20,
            sha256="0" * 64,
            votes_included=20,
            computed_at=utcnow(),
        )
        s.add(old)
        s.flush()
        old_id = old.id
    r = await client.get(f"/api/v1/snapshots/{old_id}/votes")
    assert r.status_code == 404 and r.json()["error"]["code"] == "snapshot_votes_unavailable"
    snap = recompute_once(app.state.sessionmaker, app.state.settings)
    r = await client.get(f"/api/v1/snapshots/{snap}/votes", params={"format": "xlsx"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_format"
