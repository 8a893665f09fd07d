"""What each row says beyond its rating: provisional and retired marks, robustness, serving
speed, parameter count; and the whole-board history as a download."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from arena.battles.tables import Battle, BattleResponse, BattleTurn
from arena.db import session_scope
from arena.exports.history import HISTORY_COLUMNS
from arena.leaderboard.loop import recompute_once
from arena.models.tables import ModelEndpoint
from ratings.battles_file import read_battles
from ratings.leaderboard import fit_counts
from ratings.robustness import robustness
from tests.boards.support import PARAMETERS, seed
from tests.snapshots.support import download


async def test_provisional_and_retired_marks(app: FastAPI, client: httpx.AsyncClient) -> None:
    with session_scope(app.state.sessionmaker) as s:
        seed(s, 300)
    recompute_once(app.state.sessionmaker, app.state.settings)
    rows = (await client.get("/api/v1/leaderboard")).json()["models"]
    battles = sorted(m["battles"] for m in rows)
    # between the fewest and the most votes of a model: some rows are provisional, some not
    app.state.settings.provisional_votes = battles[1] + 1
    rows = (await client.get("/api/v1/leaderboard")).json()["models"]
    for m in rows:
        assert m["provisional"] is (m["battles"] < battles[1] + 1)
        assert m["retired"] is False
    assert {m["provisional"] for m in rows} == {True, False}
    for m in rows:
        assert m["parameters"] == PARAMETERS.get(m["model"])

    with session_scope(app.state.sessionmaker) as s:
        model = s.scalar(select(ModelEndpoint).where(ModelEndpoint.name == "Gamma-1B"))
        assert model is not None
        model.status = "retired"
    for view in ("default", "style"):
        shown = (await client.get("/api/v1/leaderboard", params={"view": view})).json()
        assert "Gamma-1B" not in [m["model"] for m in shown["models"]]
        every = (
            await client.get("/api/v1/leaderboard", params={"view": view, "include_retired": "1"})
        ).json()
        marked = {m["model"]: m["retired"] for m in every["models"]}
        assert marked.pop("Gamma-1B") is True and not any(marked.values())
        # ranks are the snapshot's own: the retired model keeps its place in the numbers
        assert len(every["models"]) == len(shown["models"]) + 1
    bad = await client.get("/api/v1/leaderboard", params={"include_retired": "maybe"})
    assert bad.status_code == 422 and bad.json()["error"]["code"]


async def test_robustness_is_the_ratings_figure_on_the_boards_votes(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    with session_scope(app.state.sessionmaker) as s:
        seed(s, 400)
    recompute_once(app.state.sessionmaker, app.state.settings)
    for category in (None, "coding"):
        params = {"category": category} if category else {}
        board = (await client.get("/api/v1/leaderboard", params=params)).json()
        path = tmp_path / f"{category}.jsonl"
        path.write_bytes(await download(client, board["snapshot_id"], "jsonl"))
        counts = read_battles(path).counts()
        fitted = fit_counts(counts)
        pairs = robustness(counts, fitted.theta)
        want = {counts.models[p.upper]: p.n_votes for p in pairs}
        rows = board["models"]
        assert rows[-1]["robustness"] is None
        for m in rows[:-1]:
            assert m["robustness"] == want[m["model"]] and m["robustness"] >= 1
        assert any(m["robustness"] > 1 for m in rows[:-1])
    style = (await client.get("/api/v1/leaderboard", params={"view": "style"})).json()
    assert all(m["robustness"] is None for m in style["models"])


async def test_serving_speed_is_measured_from_the_battles(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    with session_scope(app.state.sessionmaker) as s:
        seed(s, 120, answers=True)
        # an answer that failed does not count
        failed = s.scalars(select(BattleResponse).limit(1)).one()
        failed.status, failed.ttft_ms = "failed", 1e9
    recompute_once(app.state.sessionmaker, app.state.settings)
    with session_scope(app.state.sessionmaker) as s:
        found = s.execute(
            select(
                BattleResponse.side,
                Battle.model_a_id,
                Battle.model_b_id,
                BattleResponse.ttft_ms,
                BattleResponse.completion_tokens,
                BattleResponse.duration_ms,
            )
            .join(BattleTurn, BattleTurn.id == BattleResponse.turn_id)
            .join(Battle, Battle.id == BattleTurn.battle_id)
            .where(BattleResponse.status == "done")
        ).all()
        names = {i: n for i, n in s.execute(select(ModelEndpoint.id, ModelEndpoint.name))}
    ttft: dict[str, list[float]] = {}
    speed: dict[str, list[float]] = {}
    for side, a, b, first, tokens, ms in found:
        name = names[a if side == "A" else b]
        ttft.setdefault(name, []).append(first)
        speed.setdefault(name, []).append(tokens / (ms / 1000))
    for view in ("default", "style"):
        rows = (await client.get("/api/v1/leaderboard", params={"view": view})).json()["models"]
        for m in rows:
            assert m["ttft_ms_median"] == round(float(np.median(ttft[m["model"]])), 1)
            assert m["tokens_per_s_median"] == round(float(np.median(speed[m["model"]])), 1)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
async def test_whole_board_history_downloads(
    app: FastAPI, client: httpx.AsyncClient, fmt: str
) -> None:
    with session_scope(app.state.sessionmaker) as s:
        seeded = seed(s, 160)
    first = recompute_once(app.state.sessionmaker, app.state.settings)
    with session_scope(app.state.sessionmaker) as s:
        seed(s, 40, rng_seed=5, ids=seeded.ids, key="w")
    second = recompute_once(app.state.sessionmaker, app.state.settings)
    for params in ({}, {"view": "style"}, {"category": "coding"}):
        r = await client.get("/api/v1/leaderboard/history", params={**params, "format": fmt})
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        if fmt == "jsonl":
            rows = [json.loads(line) for line in r.content.splitlines()]
        else:
            read = pq.read_table if fmt == "parquet" else pacsv.read_csv
            table = read(io.BytesIO(r.content))
            assert table.column_names == list(HISTORY_COLUMNS.names)
            rows = table.to_pylist()
        assert [list(row) for row in rows[:1]] == [list(HISTORY_COLUMNS.names)]
        snaps = sorted({row["snapshot_id"] for row in rows})
        assert len(snaps) == 2 and (params or snaps == [first, second])
        assert {row["view"] for row in rows} == {params.get("view", "default")}
        assert {row["category"] for row in rows} == {params.get("category")}
        latest = [row for row in rows if row["snapshot_id"] == snaps[-1]]
        board = (await client.get("/api/v1/leaderboard", params=params)).json()
        assert [row["model"] for row in latest] == [m["model"] for m in board["models"]]
        for row, m in zip(latest, board["models"], strict=True):
            for key in ("rating", "ci_low", "ci_high", "rank", "rank_ub", "battles", "robustness"):
                assert row[key] == m[key], key
            assert row["votes_included"] == board["votes_included"]
