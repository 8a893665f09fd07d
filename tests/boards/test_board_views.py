"""Every (view, category) board is a snapshot of one recompute, and each reproduces from its
own download with its own fit_args."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from arena.categories import categories_version, split_tags
from arena.db import session_scope
from arena.leaderboard.loop import recompute_once
from arena.leaderboard.tables import LeaderboardSnapshot
from tests.boards.support import seed
from tests.snapshots.support import (
    assert_same_rows,
    download,
    fit_file,
    jsonl_rows,
    run_arena,
    sha256,
)


async def _categories(client: httpx.AsyncClient) -> dict[str, dict[str, object]]:
    r = await client.get("/api/v1/leaderboard/categories")
    assert r.status_code == 200
    return {c["category"]: c for c in r.json()}


async def test_one_recompute_writes_every_board(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    app.state.settings.category_min_votes = 200
    with session_scope(app.state.sessionmaker) as s:
        seeded = seed(s, 600)
    counted = [v for v in seeded.votes if v.included]
    headline = recompute_once(app.state.sessionmaker, app.state.settings)
    assert headline is not None
    with session_scope(app.state.sessionmaker) as s:
        snaps = s.scalars(select(LeaderboardSnapshot).order_by(LeaderboardSnapshot.id)).all()
        boards = {(x.view, x.category): (x.id, x.headline_id, x.vote_set_id) for x in snaps}
    tags = sorted({t for v in counted for t in split_tags(v.categories)})
    assert set(boards) == {("default", None), ("style", None)} | {("default", t) for t in tags}
    assert boards["default", None][:2] == (headline, None)
    vote_set = boards["default", None][2]
    for key, (_, parent, votes) in boards.items():
        if key != ("default", None):
            assert parent == headline and votes == vote_set

    listed = await _categories(client)
    assert list(listed) == sorted(tags, key=lambda t: (-sum(t in v.categories for v in counted), t))
    for tag in tags:
        n = sum(tag in split_tags(v.categories) for v in counted)
        assert listed[tag] == {"category": tag, "votes": n, "shown": n >= 200}
    assert {t for t, c in listed.items() if not c["shown"]} == {"math", "multi_turn"}

    # Each board's download is its own votes, hashing to its own sha256; its fit_args refit it.
    for tag in ("coding", "math"):
        board = (await client.get("/api/v1/leaderboard", params={"category": tag})).json()
        assert board["category"] == tag and board["view"] == "default"
        assert board["shown"] is (tag == "coding")
        meta = (await client.get(f"/api/v1/snapshots/{board['snapshot_id']}")).json()
        assert meta["fit_args"] == ["--category", tag]
        assert meta["params"]["category"] == tag
        assert meta["params"]["categories_version"] == categories_version()
        data = await download(client, board["snapshot_id"], "jsonl")
        rows = jsonl_rows(data)
        assert [r["vote_id"] for r in rows] == [
            v.id for v in counted if tag in split_tags(v.categories)
        ]
        assert sha256(data) == meta["sha256"] and len(rows) == meta["votes_included"]
        excluded = sum(tag in split_tags(v.categories) for v in seeded.votes if not v.included)
        assert meta["votes_excluded"] == ({"too_fast": excluded} if excluded else {})
        fmt = "parquet" if tag == "coding" else "csv"
        path = tmp_path / f"{tag}.{fmt}"
        path.write_bytes(await download(client, board["snapshot_id"], fmt))
        assert_same_rows(fit_file(path, meta["fit_args"], database_url), board["models"])

    style = (await client.get("/api/v1/leaderboard", params={"view": "style"})).json()
    meta = (await client.get(f"/api/v1/snapshots/{style['snapshot_id']}")).json()
    assert meta["fit_args"] == ["--view", "style"] and meta["method"] == "bradley-terry-style"
    assert meta["params"]["features"] == [
        "sum_assistant_tokens",
        "header_count",
        "list_count",
        "bold_count",
    ]
    assert "dropped_features" not in meta["params"] and style["dropped_features"] == {}
    headline_meta = (await client.get(f"/api/v1/snapshots/{headline}")).json()
    assert meta["sha256"] == headline_meta["sha256"]
    coefs = style["style_coefficients"]
    assert set(coefs) == set(meta["params"]["features"])
    for c in coefs.values():
        assert c["ci_low"] < c["coef"] < c["ci_high"]
    # longer answers were made to win more often
    assert coefs["sum_assistant_tokens"]["ci_low"] > 0
    path = tmp_path / "style.jsonl"
    path.write_bytes(await download(client, style["snapshot_id"], "jsonl"))
    assert_same_rows(fit_file(path, meta["fit_args"], database_url), style["models"])
    assert "style_coefficients" not in (await client.get("/api/v1/leaderboard")).json()

    # Nothing moved: the cheap check skips every board at once.
    with session_scope(app.state.sessionmaker) as s:
        before = s.scalar(select(func.count()).select_from(LeaderboardSnapshot))
    assert recompute_once(app.state.sessionmaker, app.state.settings) is None
    with session_scope(app.state.sessionmaker) as s:
        assert s.scalar(select(func.count()).select_from(LeaderboardSnapshot)) == before


async def test_unknown_view_or_category_is_a_404_in_the_envelope(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    r = await client.get("/api/v1/leaderboard", params={"category": "coding"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "category_not_found"
    with session_scope(app.state.sessionmaker) as s:
        seed(s, 120)
    assert recompute_once(app.state.sessionmaker, app.state.settings) is not None
    for params, code in (
        ({"view": "elo"}, "view_not_found"),
        ({"view": "style", "category": "nope"}, "category_not_found"),
        ({"category": "klingon"}, "category_not_found"),
    ):
        r = await client.get("/api/v1/leaderboard", params=params)
        assert r.status_code == 404, params
        error = r.json()["error"]
        assert error["code"] == code and error["type"] == "not_found_error" and error["message"]
    r = await client.get("/api/v1/leaderboard/history", params={"view": "elo"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "view_not_found"
    for params in ({"category": "klingon"}, {"category": "coding", "view": "style"}):
        r = await client.get("/api/v1/leaderboard/history", params=params)
        assert r.status_code == 404 and r.json()["error"]["code"] == "category_not_found"
    # A category under the threshold is an answer, not an error.
    hidden = (await client.get("/api/v1/leaderboard", params={"category": "math"})).json()
    assert hidden["shown"] is False and hidden["models"]
    assert (await _categories(client))["math"]["shown"] is False


async def test_a_feature_without_variance_is_fitted_without_and_said_so(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    with session_scope(app.state.sessionmaker) as s:
        seed(s, 200, bold=False)
    recompute_once(app.state.sessionmaker, app.state.settings)
    style = (await client.get("/api/v1/leaderboard", params={"view": "style"})).json()
    assert style["dropped_features"] == {"bold_count": "zero variance"}
    assert set(style["style_coefficients"]) == {
        "sum_assistant_tokens",
        "header_count",
        "list_count",
    }
    meta = (await client.get(f"/api/v1/snapshots/{style['snapshot_id']}")).json()
    assert meta["params"]["dropped_features"] == {"bold_count": "zero variance"}
    assert "bold_count" not in meta["params"]["features"]
    path = tmp_path / "style.parquet"
    path.write_bytes(await download(client, style["snapshot_id"], "parquet"))
    assert_same_rows(fit_file(path, meta["fit_args"], database_url), style["models"])


async def test_a_category_without_an_mle_gets_the_minimal_prior(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    with session_scope(app.state.sessionmaker) as s:
        seeded = seed(s, 150)
        # one "math" vote only: neither of its two models has both won and lost there
        for v in seeded.votes:
            v.categories = "coding" if "coding" in v.categories else ""
        seeded.votes[1].categories = "math"
    recompute_once(app.state.sessionmaker, app.state.settings)
    board = (await client.get("/api/v1/leaderboard", params={"category": "math"})).json()
    assert len(board["models"]) == 2 and board["votes_included"] == 1
    meta = (await client.get(f"/api/v1/snapshots/{board['snapshot_id']}")).json()
    assert meta["params"]["prior"] == 1.0
    assert meta["fit_args"] == ["--prior", "1", "--category", "math"]
    path = tmp_path / "math.jsonl"
    path.write_bytes(await download(client, board["snapshot_id"], "jsonl"))
    assert_same_rows(fit_file(path, meta["fit_args"], database_url), board["models"])
    verify = run_arena("snapshots", "verify", str(board["snapshot_id"]), str(path), db=database_url)
    assert verify.returncode == 0 and "matches" in verify.stdout, verify.stdout + verify.stderr
    plain = (await client.get(f"/api/v1/snapshots/{(await _head(client))}")).json()
    assert "prior" not in plain["params"] and plain["fit_args"] == []


async def _head(client: httpx.AsyncClient) -> int:
    snap: int = (await client.get("/api/v1/leaderboard")).json()["snapshot_id"]
    return snap


@pytest.mark.parametrize("view", ["default", "style"])
async def test_history_of_a_model_follows_its_view(
    app: FastAPI, client: httpx.AsyncClient, view: str
) -> None:
    with session_scope(app.state.sessionmaker) as s:
        seeded = seed(s, 150)
    first = recompute_once(app.state.sessionmaker, app.state.settings)
    with session_scope(app.state.sessionmaker) as s:
        seed(s, 60, rng_seed=12, ids=seeded.ids, key="w")
    second = recompute_once(app.state.sessionmaker, app.state.settings)
    r = await client.get("/api/v1/leaderboard/history", params={"model": "Beta-3B", "view": view})
    body = r.json()
    assert r.status_code == 200 and body["view"] == view and body["category"] is None
    ids = [h["snapshot_id"] for h in body["history"]]
    assert len(ids) == 2
    if view == "default":
        assert ids == [first, second]
    else:
        assert all(i not in (first, second) for i in ids)
    board = (await client.get("/api/v1/leaderboard", params={"view": view})).json()
    beta = next(m for m in board["models"] if m["model"] == "Beta-3B")
    assert body["history"][-1]["rating"] == beta["rating"]
    assert json.loads(r.content)["model"] == "Beta-3B"
