"""Every board of a recompute at 1M votes on PostgreSQL -> benchmarks/results/boards.json.

    .venv/bin/python -m benchmarks.bench_boards [--votes N] [--append A] [--repeat R]

A fresh database (created on ``--pg`` and dropped afterwards) gets 50 models and ``--votes``
synthetic votes bulk-loaded with COPY, each with style features (answer tokens, headers,
list items, bold spans; longer answers win a little more often) and category tags (English
and six other languages, coding, math, multi_turn, long_query, and one rare language below
ARENA_CATEGORY_MIN_VOTES); 2% excluded with a ledger row; fixed seed. One recompute writes
the headline board, the style view and a board per category, each a snapshot. Measured:

* ``recompute_full``: `arena.leaderboard.service.recompute` with a fresh digest state, in a
  rolled-back transaction, repeated; split per step and board type: ``sql`` (the one
  statement of runs, counts, tallies), ``fit`` (headline), ``robustness`` (headline),
  ``arrays`` (every counted vote's sides, winner, style features and tags, read once),
  ``style`` (style fit with sandwich and coefficient intervals), ``categories`` (every
  category board: counts, fit, robustness), ``vote_set``, ``digest`` (every board's jsonl
  download generated and hashed, one pass), ``speed`` (serving medians), ``store``.
* ``recompute_appended``: after a committed recompute, ``--append`` more votes (with tags
  and features), recomputed with the previous hash states and the votes read before kept
  (`Digests`, `VoteCache`, as the recompute loop keeps them), ``--repeat`` rounds: the
  figure a running arena pays every ARENA_RECOMPUTE_SECONDS.
* ``arrays_select_s``: the same per-vote read through a plain SELECT instead of COPY, for
  the choice of COPY.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from benchmarks.battles import SEED, WINNERS
from benchmarks.battles.seed import (
    VOTE_COLS,
    Voters,
    copy_rows,
    fresh_postgres,
    pg_conninfo,
    register_models,
    seed_battles_pg,
    truth_ratings,
)
from benchmarks.common import RESULTS, loadavg, migrated, rel, write_results

# (tag, share of votes)
TAGS = (
    ("lang:en", 0.62),
    ("lang:de", 0.08),
    ("lang:zh", 0.07),
    ("lang:fr", 0.05),
    ("lang:es", 0.05),
    ("lang:ru", 0.04),
    ("lang:ja", 0.03),
    ("lang:eu", 0.0002),
    ("coding", 0.3),
    ("math", 0.1),
    ("multi_turn", 0.2),
    ("long_query", 0.05),
)
COLUMNS = [*VOTE_COLS, "categories"]


def r3(x: float) -> float:
    return round(x, 3)


def synthetic(
    rng: np.random.Generator, model_ids: list[int], truth: dict[int, float], n: int
) -> dict[str, Any]:
    m = len(model_ids)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    ids = np.array(model_ids)
    tokens = rng.integers(20, 800, (n, 2))
    rel_len = (tokens[:, 0] - tokens[:, 1]) / (tokens[:, 0] + tokens[:, 1])
    tr = np.array([truth[i] for i in model_ids])
    p = 1.0 / (1.0 + 10.0 ** ((tr[b] - tr[a]) / 400.0 - 0.15 * rel_len))
    u = rng.random(n)
    winners = np.where(u < 0.10, 2, np.where(u < 0.13, 3, np.where(rng.random(n) < p, 0, 1)))
    held = np.stack([rng.random(n) < share for _, share in TAGS], axis=1)
    names = np.array([t for t, _ in TAGS])
    tags = [",".join(sorted(names[row])) for row in held]
    return {
        "pairs": np.stack([ids[a], ids[b]], axis=1),
        "winners": winners,
        "tokens": tokens,
        "md": rng.integers(0, 6, (n, 6)),
        "tags": tags,
        "excluded": rng.random(n) < 0.02,
    }


def load_votes(url: str, battle_ids: list[str], first_id: int, data: dict[str, Any]) -> None:
    import psycopg

    stamp = datetime(2024, 1, 1, 0, 5, tzinfo=UTC).isoformat()
    pairs, win, tok, md, tags, excl = (
        data[k] for k in ("pairs", "winners", "tokens", "md", "tags", "excluded")
    )
    n = len(battle_ids)
    with psycopg.connect(pg_conninfo(url)) as conn:
        copy_rows(
            conn,
            "votes",
            COLUMNS,
            (
                f"{first_id + i}\t{battle_ids[i]}\t{WINNERS[win[i]]}\t{pairs[i, 0]}\t"
                f"{pairs[i, 1]}\t{2 if 'multi_turn' in tags[i] else 1}\tc{i % 4000}\ti\tn\t30.0\t"
                f"{'f' if excl[i] else 't'}\t{tok[i, 0]}\t{tok[i, 1]}\t{tok[i, 0] * 5}\t"
                f"{tok[i, 1] * 5}\t{md[i, 0]}\t{md[i, 1]}\t{md[i, 2]}\t{md[i, 3]}\t{md[i, 4]}\t"
                f"{md[i, 5]}\t{stamp}\t{tags[i]}\n"
                for i in range(n)
            ),
        )
        excluded = (np.flatnonzero(excl) + first_id).tolist()
        copy_rows(
            conn,
            "vote_exclusions",
            ["vote_id", "reason", "detail", "created_at"],
            (f"{v}\ttoo_fast\tsynthetic\t{stamp}\n" for v in excluded),
        )
        conn.execute(f"SELECT setval('votes_id_seq', {first_id + n - 1})")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE votes")


def seed_all(url: str, n: int, seed: int) -> tuple[list[int], dict[str, Any]]:
    model_ids = register_models(url, ["http://127.0.0.1:9"], 50)
    truth = truth_ratings(model_ids, seed)
    rng = np.random.default_rng(seed)
    data = synthetic(rng, model_ids, truth, n)
    voters = Voters(4000)
    owners = rng.integers(0, len(voters), n)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    t0 = time.perf_counter()
    ids = seed_battles_pg(url, voters, data["pairs"], owners, "b1", finished=False, now=base)
    t_battles = time.perf_counter() - t0
    t0 = time.perf_counter()
    load_votes(url, ids, 1, data)
    counts: dict[str, int] = {}
    for text, keep in zip(data["tags"], ~data["excluded"], strict=True):
        if keep:
            for tag in filter(None, text.split(",")):
                counts[tag] = counts.get(tag, 0) + 1
    return model_ids, {
        "votes": n,
        "excluded": int(data["excluded"].sum()),
        "models": len(model_ids),
        "counted_votes_per_category": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
        "load_battles_s": round(t_battles, 1),
        "load_votes_s": round(time.perf_counter() - t0, 1),
    }


def append(url: str, model_ids: list[int], start: int, count: int, seed: int) -> None:
    """``count`` more votes after id ``start`` (their battles first), committed."""
    rng = np.random.default_rng(seed)
    data = synthetic(rng, model_ids, truth_ratings(model_ids, SEED), count)
    voters = Voters(50)
    owners = rng.integers(0, len(voters), count)
    now = datetime(2024, 1, 2, tzinfo=UTC) + timedelta(minutes=start % 1000)
    ids = seed_battles_pg(
        url, voters, data["pairs"], owners, f"a{start:x}", finished=False, now=now
    )
    load_votes(url, ids, start + 1, data)


def recompute_full(url: str, repeat: int) -> dict[str, Any]:
    from sqlalchemy import select

    from arena.db import make_engine, make_sessionmaker
    from arena.leaderboard.digest import Digests
    from arena.leaderboard.service import recompute
    from arena.leaderboard.tables import LeaderboardSnapshot

    engine = make_engine(url)
    runs: list[dict[str, float]] = []
    shape: dict[str, Any] = {}
    try:
        for _ in range(repeat):
            session = make_sessionmaker(engine)()
            try:
                timings: dict[str, float] = {}
                t0 = time.perf_counter()
                snap = recompute(session, None, digests=Digests(), timings=timings)
                timings["total"] = time.perf_counter() - t0
                assert snap is not None
                boards = session.scalars(
                    select(LeaderboardSnapshot).where(
                        (LeaderboardSnapshot.id == snap.id)
                        | (LeaderboardSnapshot.headline_id == snap.id)
                    )
                ).all()
                shape = {
                    "boards": len(boards),
                    "snapshots_written": len({b.id for b in boards}),
                    "views": sorted({b.view for b in boards}),
                    "categories": len([b for b in boards if b.category]),
                    "votes_included": snap.votes_included,
                    "style_coefficients": next(
                        b.style_coefficients for b in boards if b.view == "style"
                    ),
                }
                runs.append(timings)
                session.rollback()
            finally:
                session.close()
    finally:
        engine.dispose()
    return {
        **{f"{k}_s": {"median": r3(statistics.median(r[k] for r in runs))} for k in runs[0]},
        "runs": [{k: r3(v) for k, v in r.items()} for r in runs],
        **shape,
    }


def recompute_appended(
    url: str, model_ids: list[int], votes: int, count: int, rounds: int
) -> dict[str, Any]:
    from arena.db import make_engine, make_sessionmaker, session_scope
    from arena.leaderboard.arrays import VoteCache
    from arena.leaderboard.digest import Digests
    from arena.leaderboard.service import recompute

    engine = make_engine(url)
    # What the recompute loop keeps between rounds: hash states and the votes read.
    digests, cache = Digests(), VoteCache()
    runs: list[dict[str, float]] = []
    passes: list[tuple[str, int, str, int]] = []
    try:
        factory = make_sessionmaker(engine)
        with session_scope(factory) as session:
            assert recompute(session, None, digests=digests, cache=cache) is not None
        top = votes
        for k in range(rounds):
            append(url, model_ids, top, count, seed=SEED + 1 + k)
            top += count
            timings: dict[str, float] = {}
            with session_scope(factory) as session:
                t0 = time.perf_counter()
                snap = recompute(session, None, digests=digests, timings=timings, cache=cache)
                timings["total"] = time.perf_counter() - t0
                assert snap is not None
            runs.append(timings)
            passes.append((digests.last_pass, digests.last_rows, cache.last_read, cache.last_rows))
    finally:
        engine.dispose()
    return {
        "appended_votes_per_round": count,
        "rounds": rounds,
        "passes": [
            {"digest": p, "digest_rows": n, "arrays": a, "arrays_rows": k} for p, n, a, k in passes
        ],
        **{f"{k}_s": {"median": r3(statistics.median(r[k] for r in runs))} for k in runs[0]},
        "runs": [{k: r3(v) for k, v in r.items()} for r in runs],
    }


def arrays_select(url: str) -> dict[str, float]:
    """The per-vote read through COPY (what the recompute uses) and through a SELECT."""
    from arena.db import make_engine, make_sessionmaker
    from arena.leaderboard import arrays
    from arena.leaderboard.voteset import gather

    engine = make_engine(url)
    try:
        session = make_sessionmaker(engine)()
        try:
            runs = gather(session, {}).runs
            lo, hi = runs[0][0], runs[-1][1]
            t0 = time.perf_counter()
            copied = arrays._copy_postgres(session, lo, hi).pack(runs)
            t_copy = time.perf_counter() - t0
            t0 = time.perf_counter()
            selected = arrays._select(session, lo, hi).pack(runs)
            t_select = time.perf_counter() - t0
            assert np.array_equal(copied.ids, selected.ids)
            assert np.array_equal(copied.features_a, selected.features_a)
        finally:
            session.close()
    finally:
        engine.dispose()
    return {"copy_s": r3(t_copy), "select_s": r3(t_select), "votes": int(copied.size)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--append", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS / "boards.json"))
    args = parser.parse_args()
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_at_start": loadavg(),
        },
        "setup": {
            "database": "PostgreSQL (fresh database per run, dropped afterwards)",
            "seed": SEED,
            "args": {**vars(args), "out": rel(__import__("pathlib").Path(args.out))},
        },
        "measurements": {},
    }
    out = __import__("pathlib").Path(args.out)
    with fresh_postgres(args.pg, "boards") as url:
        migrated(url)
        model_ids, seeded = seed_all(url, args.votes, SEED)
        phases = (
            ("seeded", lambda: seeded),
            ("arrays_read", lambda: arrays_select(url)),
            ("recompute_full", lambda: recompute_full(url, args.repeat)),
            (
                "recompute_appended",
                lambda: recompute_appended(url, model_ids, args.votes, args.append, args.repeat),
            ),
        )
        for name, run in phases:
            results["measurements"][name] = run()
            results["machine"]["load_avg_at_end"] = loadavg()
            print(name, results["measurements"][name], flush=True)
            write_results(out, results)
    print(write_results(out, results))


if __name__ == "__main__":
    main()
