"""A new arena has a board from its first counted vote, fitted with the stated prior."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from arena.leaderboard.loop import recompute_once
from arena.settings import Settings
from tests.battles.support import send
from tests.snapshots.support import assert_same_rows, download, fit_file, run_arena


async def first_vote(client: httpx.AsyncClient, winner: str) -> None:
    battle = (await client.post("/api/v1/battles", json={})).json()["battle_id"]
    assert (await send(client, battle, "What is the capital of France?")).status_code == 200
    r = await client.post(f"/api/v1/battles/{battle}/vote", json={"winner": winner})
    assert r.status_code == 200, r.text


async def test_one_vote_gives_a_board_of_both_models(
    arena: FastAPI, client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    await first_vote(client, "A")
    snap = recompute_once(arena.state.sessionmaker, arena.state.settings)
    assert snap is not None
    board = (await client.get("/api/v1/leaderboard")).json()
    assert sorted(m["model"] for m in board["models"]) == ["Alpha-7B", "Beta-3B"]
    assert [m["battles"] for m in board["models"]] == [1, 1]
    top, bottom = board["models"]
    assert top["rating"] > 1000 > bottom["rating"] and top["rank"] == 1
    meta = (await client.get(f"/api/v1/snapshots/{snap}")).json()
    assert meta["params"]["prior"] == 1.0 and meta["fit_args"] == ["--prior", "1"]

    path = tmp_path / "first.jsonl"
    path.write_bytes(await download(client, snap, "jsonl"))
    assert_same_rows(fit_file(path, meta["fit_args"], database_url), board["models"])
    # Without the prior the file has no MLE, and the fit says why.
    plain = run_arena("ratings", "fit", str(path), "--json", db=database_url)
    assert plain.returncode == 1 and "never lost" in plain.stderr


async def test_the_mle_is_kept_where_it_exists(arena: FastAPI, client: httpx.AsyncClient) -> None:
    await first_vote(client, "tie")
    snap = recompute_once(arena.state.sessionmaker, arena.state.settings)
    meta = (await client.get(f"/api/v1/snapshots/{snap}")).json()
    assert "prior" not in meta["params"] and meta["fit_args"] == []
    board = (await client.get("/api/v1/leaderboard")).json()
    assert [m["rating"] for m in board["models"]] == [1000.0, 1000.0]


async def test_prior_zero_waits_for_the_mle(arena: FastAPI, client: httpx.AsyncClient) -> None:
    arena.state.settings.rating_prior = 0.0
    await first_vote(client, "B")
    assert recompute_once(arena.state.sessionmaker, arena.state.settings) is None
    assert (await client.get("/api/v1/leaderboard")).json()["models"] == []


def test_a_negative_prior_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="rating_prior"):
        Settings(rating_prior=-1)
