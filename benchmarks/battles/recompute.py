"""Recompute timing on a big database (PostgreSQL or SQLite) and how well boards match truth."""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import time
from typing import Any

import numpy as np
from sqlalchemy import select, text

from arena.db import make_engine, make_sessionmaker, session_scope
from arena.leaderboard import service as board
from arena.leaderboard.tables import SnapshotRow
from benchmarks.battles import WINNERS
from benchmarks.battles.seed import (
    BATTLE_COLS,
    VOTE_COLS,
    Voters,
    draw_winners,
    register_models,
    truth_ratings,
)
from benchmarks.common import migrated


def r3(x: float) -> float:
    return round(x, 3)


def time_recompute(url: str, repeat: int) -> dict[str, Any]:
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    gathers, fits, totals = [], [], []
    inputs = None
    try:
        for _ in range(repeat):
            session = factory()
            try:
                t0 = time.perf_counter()
                snap = board.recompute(session, None)
                totals.append(time.perf_counter() - t0)
                assert snap is not None
                session.rollback()
                params = board.default_params(None)
                t0 = time.perf_counter()
                inputs = board.gather(session, params)
                gathers.append(time.perf_counter() - t0)
                session.rollback()
                t0 = time.perf_counter()
                result = board.fit(inputs)
                fits.append(time.perf_counter() - t0)
            finally:
                session.close()
        explain = None
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                plan = conn.execute(
                    text(
                        "EXPLAIN (ANALYZE, BUFFERS) SELECT model_a_id, model_b_id, winner,"
                        " count(*) FROM votes WHERE included AND id <= :w"
                        " GROUP BY model_a_id, model_b_id, winner"
                    ),
                    {"w": inputs.watermark if inputs else 0},
                ).all()
                explain = [row[0] for row in plan]
        assert inputs is not None
        rows = result.rows()
        return {
            "recompute_s": {
                "median": r3(statistics.median(totals)),
                "runs": [r3(t) for t in totals],
            },
            "gather_sql_s": {
                "median": r3(statistics.median(gathers)),
                "runs": [r3(t) for t in gathers],
            },
            "fit_s": {"median": r3(statistics.median(fits)), "runs": [r3(t) for t in fits]},
            "votes_included": inputs.votes_included,
            "votes_excluded": inputs.excluded,
            "cells": len(inputs.cells),
            "models_on_board": len(rows),
            "explain_aggregation": explain,
            "_ratings": {str(r["model"]): float(r["rating"]) for r in rows},  # type: ignore[arg-type]
        }
    finally:
        engine.dispose()


def sqlite_recompute(voters: Voters, n: int, models: int, seed: int, repeat: int) -> dict[str, Any]:
    """The 1M-vote recompute on SQLite (a temp file, WAL), for comparison."""
    with tempfile.TemporaryDirectory() as tmp:
        url = migrated(f"sqlite:///{tmp}/bench.db")
        ids = register_models(url, ["http://127.0.0.1:9"], models)  # never contacted
        rng = np.random.default_rng(seed)
        truth = truth_ratings(ids, seed)
        ids_arr = np.array(ids)
        a = rng.integers(0, models, n)
        b = (a + rng.integers(1, models, n)) % models
        tr = np.array([truth[i] for i in ids])
        winners = draw_winners(rng, tr[a], tr[b])
        owners = rng.integers(0, len(voters), n)
        excluded = rng.random(n) < 0.02
        stamp = "2024-01-01 00:05:00.000000"
        t0 = time.perf_counter()
        con = sqlite3.connect(f"{tmp}/bench.db")
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
        bids = [f"b1{i:030x}" for i in range(n)]
        con.executemany(
            f"INSERT INTO battles ({', '.join(BATTLE_COLS)}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                (
                    bids[i],
                    int(ids_arr[a[i]]),
                    int(ids_arr[b[i]]),
                    "sys",
                    voters.client_hash[owners[i]],
                    voters.ip_hash[owners[i]],
                    voters.net_hash[owners[i]],
                    stamp,
                    stamp,
                    stamp,
                )
                for i in range(n)
            ),
        )
        con.executemany(
            f"INSERT INTO votes ({', '.join(VOTE_COLS)}) VALUES ({', '.join('?' * len(VOTE_COLS))})",
            (
                (
                    i + 1,
                    bids[i],
                    WINNERS[winners[i]],
                    int(ids_arr[a[i]]),
                    int(ids_arr[b[i]]),
                    1,
                    voters.client_hash[owners[i]],
                    voters.ip_hash[owners[i]],
                    voters.net_hash[owners[i]],
                    30.0,
                    0 if excluded[i] else 1,
                    *([12, 12, 60, 60] + [0] * 6),
                    stamp,
                )
                for i in range(n)
            ),
        )
        con.executemany(
            "INSERT INTO vote_exclusions (vote_id, reason, detail, created_at)"
            " VALUES (?, 'too_fast', 'synthetic', ?)",
            ((int(v) + 1, stamp) for v in np.nonzero(excluded)[0]),
        )
        con.commit()
        con.execute("ANALYZE")
        con.close()
        load_s = time.perf_counter() - t0
        out = time_recompute(url, repeat)
        out["load_s"] = round(load_s, 1)
        out.pop("_ratings")
        return out


def latest_ratings(url: str) -> dict[str, float]:
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            snap = board.latest(session)
            if snap is None:
                return {}
            rows = session.scalars(select(SnapshotRow).where(SnapshotRow.snapshot_id == snap.id))
            return {r.model: r.rating for r in rows}
    finally:
        engine.dispose()


def rank_agreement(ratings: dict[str, float], truth: dict[str, float]) -> float | None:
    names = [n for n in ratings if n in truth]
    if len(names) < 3:
        return None
    x = np.argsort(np.argsort([ratings[n] for n in names]))
    y = np.argsort(np.argsort([truth[n] for n in names]))
    return round(float(np.corrcoef(x, y)[0, 1]), 4)
