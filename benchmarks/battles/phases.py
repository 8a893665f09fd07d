"""The HTTP phases: battles, turns and votes through the API, driven by the load generator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select

from arena.db import make_engine
from arena.leaderboard.tables import LeaderboardSnapshot
from arena.votes.tables import Vote
from benchmarks.battles import WINNERS
from benchmarks.battles.load import App, CpuMeter, run_load
from benchmarks.battles.seed import (
    Voters,
    draw_winners,
    finish_turns_pg,
    pg_conninfo,
    seed_battles_pg,
)


def phase_battles(
    app: App, voters: Voters, meter: CpuMeter, count: int, seconds: float, concurrency: int
) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    owners = [i % len(voters) for i in range(count)]
    tasks = [[v, voters.addresses[v], None] for v in owners]
    plan = {
        "kind": "battles",
        "tasks": tasks,
        "cookies": voters.cookies,
        "concurrency": concurrency,
        "deadline_s": seconds,
    }
    res = run_load(app, plan, meter)
    produced = res.pop("_produced")
    return res, [(bid, owners[i]) for i, bid in sorted(produced.items())]


def phase_votes(
    app: App,
    voters: Voters,
    meter: CpuMeter,
    battles: list[tuple[str, int, str]],
    seconds: float,
    concurrency: int,
    rate: float | None,
    url: str,
    *,
    kind: str = "votes",
    py_spy: str | None = None,
) -> dict[str, Any]:
    """Votes on `battles` (kind "bare": the same requests to the bare INSERT endpoint)."""
    tasks = [[v, voters.addresses[v], [bid, w]] for bid, v, w in battles]
    plan = {
        "kind": kind,
        "tasks": tasks,
        "cookies": voters.cookies,
        "concurrency": concurrency,
        "deadline_s": seconds,
        "rate": rate,
    }
    res = run_load(app, plan, meter, py_spy)
    res.pop("_produced")
    start, end = res.pop("window")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            lo = datetime.fromtimestamp(start, UTC)
            hi = datetime.fromtimestamp(end, UTC)
            n = conn.scalar(
                select(func.count())
                .select_from(LeaderboardSnapshot)
                .where(LeaderboardSnapshot.computed_at.between(lo, hi))
                .where(LeaderboardSnapshot.headline_id.is_(None))  # one per recompute
            )
            last = conn.execute(
                select(LeaderboardSnapshot.votes_included, LeaderboardSnapshot.votes_excluded)
                .where(LeaderboardSnapshot.headline_id.is_(None))
                .order_by(LeaderboardSnapshot.id.desc())
                .limit(1)
            ).first()
            excluded = conn.scalar(
                select(func.count()).select_from(Vote).where(Vote.included.is_(False))
            )
    finally:
        engine.dispose()
    res["snapshots_written_during_phase"] = n
    res["latest_snapshot"] = (
        {"votes_included": last[0], "votes_excluded": last[1]} if last else None
    )
    res["votes_excluded_in_db"] = excluded
    return res


def prepare_votable(
    url: str,
    app: App,
    voters: Voters,
    meter: CpuMeter,
    model_ids: list[int],
    api_battles: list[tuple[str, int]],
    needed: int,
    api_turns: int,
    turn_seconds: float,
    rng: np.random.Generator,
    prefix: str,
) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    """Battles with a finished turn: `api_turns` through the API, the rest seeded in the DB."""
    import psycopg

    info: dict[str, Any] = {}
    through_api = api_battles[:api_turns]
    if through_api:
        tasks = [[v, voters.addresses[v], [bid]] for bid, v in through_api]
        plan = {
            "kind": "turns",
            "tasks": tasks,
            "cookies": voters.cookies,
            "concurrency": 16,
            "deadline_s": turn_seconds,
        }
        res = run_load(app, plan, meter)
        res.pop("_produced")
        res.pop("window")
        info["turns_api"] = res
    now = datetime.now(UTC) - timedelta(seconds=5)
    with psycopg.connect(pg_conninfo(url)) as conn:
        done = {
            r[0]
            for r in conn.execute(
                "SELECT b.id FROM battles b WHERE b.voted_at IS NULL AND b.last_finished_at"
                " IS NOT NULL"
            )
        }
        rest = [bid for bid, _ in api_battles if bid not in done]
        finish_turns_pg(conn, rest, now)
        conn.commit()
    ready = list(api_battles)
    extra = max(0, needed - len(ready))
    info["battles_from_api"] = len(api_battles)
    info["turns_from_api_done"] = len(done)
    info["turns_seeded_in_db"] = len(rest)
    info["battles_seeded_in_db"] = extra
    if extra:
        m = len(model_ids)
        ids_arr = np.array(model_ids)
        a = rng.integers(0, m, extra)
        b = (a + rng.integers(1, m, extra)) % m
        pairs = np.stack([ids_arr[a], ids_arr[b]], axis=1)
        owners = rng.integers(0, len(voters), extra)
        ids = seed_battles_pg(url, voters, pairs, owners, prefix, finished=True, now=now)
        ready += list(zip(ids, owners.tolist(), strict=True))
    return info, ready


def with_winners(
    url: str, battles: list[tuple[str, int]], truth: dict[int, float], rng: np.random.Generator
) -> list[tuple[str, int, str]]:
    import psycopg

    with psycopg.connect(pg_conninfo(url)) as conn:
        pairs = dict(
            (r[0], (r[1], r[2]))
            for r in conn.execute("SELECT id, model_a_id, model_b_id FROM battles")
        )
    ra = np.array([truth[pairs[bid][0]] for bid, _ in battles])
    rb = np.array([truth[pairs[bid][1]] for bid, _ in battles])
    codes = draw_winners(rng, ra, rb)
    out = [(bid, v, WINNERS[c]) for (bid, v), c in zip(battles, codes, strict=True)]
    order = rng.permutation(len(out))
    return [out[i] for i in order]
