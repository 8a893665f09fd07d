"""Votes in, board out; export → `arena ratings fit` reproduces the board exactly."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from arena.battles.tables import Battle
from arena.db import session_scope, utcnow
from arena.leaderboard.loop import recompute_once
from arena.models.service import OperatorModel, add_operator_model
from arena.votes.service import exclude
from arena.votes.tables import Vote

MODELS = [
    ("Alpha-7B", "Alpha Labs", "open"),
    ("Beta-3B", "Betacorp", "proprietary"),
    ("Gamma-1B", "Gamma", "open"),
]
STRENGTH = {"Alpha-7B": 1.0, "Beta-3B": 0.4, "Gamma-1B": -0.5}


def seed_votes(session: Session, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    ids = {}
    for name, org, lic in MODELS:
        ids[name] = add_operator_model(
            session,
            OperatorModel(
                name=name,
                base_url="http://127.0.0.1:9/v1",
                api_model=name,
                organization=org,
                license=lic,
            ),
        ).id
    names = list(ids)
    for k in range(n):
        a, b = rng.sample(names, 2)
        diff = STRENGTH[a] - STRENGTH[b]
        u = rng.random()
        p_a = 1 / (1 + 10 ** (-diff))
        winner = (
            "tie" if u < 0.1 else "bothbad" if u < 0.15 else ("A" if rng.random() < p_a else "B")
        )
        battle = Battle(
            id=f"{k:032x}",
            model_a_id=ids[a],
            model_b_id=ids[b],
            system_message="s",
            client_hash=f"c{k}",
            ip_hash="i",
            network_hash="n",
        )
        session.add(battle)
        session.flush()
        vote = Vote(
            battle_id=battle.id,
            winner=winner,
            model_a_id=ids[a],
            model_b_id=ids[b],
            turns=1,
            client_hash=f"c{k}",
            ip_hash="i",
            network_hash="n",
            read_seconds=10.0,
            created_at=utcnow(),
            a_tokens=rng.randint(10, 400),
            b_tokens=rng.randint(10, 400),
        )
        session.add(vote)
        session.flush()
        if k % 17 == 0:
            exclude(session, vote, "too_fast", "test")
        if k % 51 == 0:
            exclude(session, vote, "identity_leak", "test")


def run_arena(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env["ARENA_DATABASE_URL"] = db
    return subprocess.run(
        [sys.executable, "-m", "arena", *args], capture_output=True, text=True, env=env, timeout=120
    )


async def test_board_and_history(app: FastAPI, client: httpx.AsyncClient) -> None:
    empty = (await client.get("/api/v1/leaderboard")).json()
    assert empty["snapshot_id"] is None and empty["models"] == []
    with session_scope(app.state.sessionmaker) as s:
        seed_votes(s, 300)
    first = recompute_once(app.state.sessionmaker, app.state.settings)
    assert first is not None
    assert recompute_once(app.state.sessionmaker, app.state.settings) is None  # nothing new
    board = (await client.get("/api/v1/leaderboard")).json()
    assert board["snapshot_id"] == first and board["method"] == "bradley-terry"
    models = board["models"]
    assert [m["model"] for m in models] == ["Alpha-7B", "Beta-3B", "Gamma-1B"]
    assert models[0]["rank"] == 1 and models[0]["license"] == "open"
    assert models[1]["organization"] == "Betacorp" and models[1]["license"] == "proprietary"
    for m in models:
        assert m["ci_low"] < m["rating"] < m["ci_high"]
    excluded = 300 - board["votes_included"]
    assert sum(board["votes_excluded"].values()) >= excluded > 0
    assert set(board["votes_excluded"]) == {"too_fast", "identity_leak"}
    assert sum(m["battles"] for m in models) == 2 * board["votes_included"]
    assert abs(sum(m["rating"] for m in models) / 3 - 1000) < 1e-6

    meta = (await client.get(f"/api/v1/snapshots/{first}")).json()
    assert meta["vote_watermark"] == 300 and len(meta["sha256"]) == 64
    assert set(meta) == {
        "snapshot_id", "view", "category", "headline_id", "method", "params", "fit_args",
        "vote_watermark", "sha256", "votes_included", "votes_excluded", "computed_at",
    }  # fmt: skip
    assert meta["headline_id"] is None
    assert meta["params"]["ci"] == "sandwich"
    assert (await client.get("/api/v1/snapshots/999")).status_code == 404

    with session_scope(app.state.sessionmaker) as s:
        v = s.get(Vote, 2)
        assert v is not None
        exclude(s, v, "abuse_pattern", "test")
    second = recompute_once(app.state.sessionmaker, app.state.settings)
    assert second is not None and second != first
    hist = (await client.get("/api/v1/leaderboard/history", params={"model": "Beta-3B"})).json()
    assert [h["snapshot_id"] for h in hist["history"]] == [first, second]
    r = await client.get("/api/v1/leaderboard/history", params={"model": "Nobody"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
async def test_export_then_fit_reproduces_the_board(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, tmp_path: Path, fmt: str
) -> None:
    with session_scope(app.state.sessionmaker) as s:
        seed_votes(s, 240, seed=3)
    snap = recompute_once(app.state.sessionmaker, app.state.settings)
    board = (await client.get("/api/v1/leaderboard")).json()
    assert board["snapshot_id"] == snap

    r = await client.get("/api/v1/exports/votes", params={"format": fmt})
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    path = tmp_path / f"votes.{fmt}"
    path.write_bytes(r.content)
    if fmt == "parquet":
        table = pq.read_table(io.BytesIO(r.content))
        assert table.num_rows == 240
        assert "sum_assistant_tokens_a" in table.column_names
    fit = run_arena("ratings", "fit", str(path), "--json", db=database_url)
    assert fit.returncode == 0, fit.stderr
    rows = json.loads(fit.stdout)
    assert [(x["model"], x["rank"], x["rank_ub"], x["battles"]) for x in rows] == [
        (m["model"], m["rank"], m["rank_ub"], m["battles"]) for m in board["models"]
    ]
    for x, m in zip(rows, board["models"], strict=True):
        for key in ("rating", "ci_low", "ci_high"):
            assert x[key] == pytest.approx(m[key], abs=1e-9)

    cli = run_arena(
        "export", "votes", "--format", fmt, "--out", str(tmp_path / f"cli.{fmt}"), db=database_url
    )
    assert cli.returncode == 0, cli.stderr
    if fmt != "parquet":
        assert (tmp_path / f"cli.{fmt}").read_bytes() == r.content


async def test_preferences_and_snapshot_exports(app: FastAPI, client: httpx.AsyncClient) -> None:
    with session_scope(app.state.sessionmaker) as s:
        seed_votes(s, 30)
    recompute_once(app.state.sessionmaker, app.state.settings)
    r = await client.get("/api/v1/exports/snapshots", params={"format": "jsonl"})
    rows = [json.loads(line) for line in r.text.splitlines()]
    # the headline board and the style view, recomputed together, a row per model each
    assert sorted(row["view"] for row in rows) == ["default"] * 3 + ["style"] * 3
    assert {row["model"] for row in rows} == set(STRENGTH)
    r = await client.get("/api/v1/exports/preferences", params={"format": "csv"})
    assert r.status_code == 200
    assert r.text.splitlines()[0].replace('"', "").startswith("vote_id,battle_id,prompt")
    bad = await client.get("/api/v1/exports/votes", params={"format": "xlsx"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "unknown_format"
