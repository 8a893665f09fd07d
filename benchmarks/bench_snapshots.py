"""Snapshots fixed at birth at 1M votes on PostgreSQL -> benchmarks/results/snapshots.json.

    .venv/bin/python -m benchmarks.bench_snapshots [--votes N] [--repeat R]

A fresh database (created on ``--pg`` and dropped afterwards) gets 50 models and ``--votes``
synthetic votes bulk-loaded with COPY (``benchmarks.battles.seed.seed_votes_1m``: 2%
excluded with a ledger row, fixed seed). Measured:

* ``recompute_full``: ``arena.leaderboard.service.recompute`` with a fresh digest state, in a
  rolled-back transaction, repeated; split into ``sql`` (the one statement reading runs,
  counts, exclusion tallies and marks), ``fit``, ``vote_set`` (storing the runs) and
  ``digest`` (generating the jsonl download and hashing it), plus the size of the runs.
* ``recompute_appended``: after a committed snapshot, ``--append`` more votes, recomputed with
  the previous hash state kept (only the new rows are hashed).
* ``build``: the jsonl, csv and parquet downloads generated in-process (bytes discarded):
  seconds, bytes and the process's peak RSS growth over the run (VmHWM reset through
  /proc/self/clear_refs before each).
* ``serve``: the same downloads over HTTP from ``create_app`` under uvicorn in a thread
  (``GET /api/v1/snapshots/{id}/votes``), read streaming by httpx: seconds to the last
  byte, the jsonl bytes' sha256 against the snapshot's, peak RSS growth of this process
  (server and client both live in it).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.battles import SEED
from benchmarks.battles.seed import (
    VOTE_COLS,
    Voters,
    copy_rows,
    fresh_postgres,
    pg_conninfo,
    register_models,
    seed_votes_1m,
)
from benchmarks.common import RESULTS, arena_server, loadavg, migrated, rel, write_results

FORMATS = ("jsonl", "csv", "parquet")


def r3(x: float) -> float:
    return round(x, 3)


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def peak_rss(work: Callable[[], Any]) -> tuple[Any, float, float]:
    """``work()``'s result, seconds, and how far the process's peak RSS rose (MiB)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets VmHWM to the current RSS
    base = _rss_kib("VmRSS")
    t0 = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - t0
    return result, seconds, (_rss_kib("VmHWM") - base) / 1024


def recompute_full(url: str, repeat: int) -> dict[str, Any]:
    from arena.db import make_engine, make_sessionmaker
    from arena.leaderboard.digest import Digests
    from arena.leaderboard.service import recompute
    from arena.leaderboard.tables import SnapshotVoteSet

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
                vote_set = session.get(SnapshotVoteSet, snap.vote_set_id)
                assert vote_set is not None
                shape = {
                    "votes_included": snap.votes_included,
                    "runs": len(vote_set.runs),
                    "runs_json_bytes": len(str(vote_set.runs).replace(" ", "")),
                    "params_prior": snap.params.get("prior"),
                }
                runs.append(timings)
                session.rollback()
            finally:
                session.close()
    finally:
        engine.dispose()
    steps = runs[0].keys()
    return {
        **{f"{k}_s": {"median": r3(statistics.median(r[k] for r in runs))} for k in steps},
        "runs": [{k: r3(v) for k, v in r.items()} for r in runs],
        **shape,
    }


def append_votes(url: str, start: int, count: int) -> None:
    """``count`` more votes after id ``start`` (their battles first), committed."""
    import psycopg

    stamp = datetime(2024, 1, 2, tzinfo=UTC).isoformat()
    with psycopg.connect(pg_conninfo(url)) as conn:
        models = [r[0] for r in conn.execute("SELECT id FROM model_endpoints ORDER BY id")]
        ids = [f"b2{i:030x}" for i in range(count)]
        conn.execute(
            "INSERT INTO battles (id, model_a_id, model_b_id, system_message, client_hash,"
            " ip_hash, network_hash, created_at) SELECT b, %s, %s, 's', 'c', 'i', 'n', %s"
            " FROM unnest(%s::text[]) AS b",
            (models[0], models[1], stamp, ids),
        )
        copy_rows(
            conn,
            "votes",
            VOTE_COLS,
            (
                f"{start + i + 1}\t{ids[i]}\t{'AB'[i % 2]}\t{models[0]}\t{models[1]}\t1\tc\ti\tn"
                f"\t30.0\tt\t12\t12\t60\t60\t0\t0\t0\t0\t0\t0\t{stamp}\n"
                for i in range(count)
            ),
        )
        conn.execute(f"SELECT setval('votes_id_seq', {start + count})")
        conn.commit()


def recompute_appended(url: str, votes: int, append: int) -> tuple[dict[str, Any], int]:
    """Commit a snapshot, append votes, recompute with the kept hash state."""
    from arena.db import make_engine, make_sessionmaker, session_scope
    from arena.leaderboard.digest import Digests
    from arena.leaderboard.service import recompute

    engine = make_engine(url)
    digests = Digests()
    try:
        factory = make_sessionmaker(engine)
        with session_scope(factory) as session:
            first = recompute(session, None, digests=digests)
            assert first is not None
            first_id = first.id
        append_votes(url, votes, append)
        timings: dict[str, float] = {}
        with session_scope(factory) as session:
            t0 = time.perf_counter()
            second = recompute(session, None, digests=digests, timings=timings)
            timings["total"] = time.perf_counter() - t0
            assert second is not None
        return {
            "appended_votes": append,
            "digest_pass": digests.last_pass,
            "rows_hashed": digests.last_rows,
            **{f"{k}_s": r3(v) for k, v in timings.items()},
        }, first_id
    finally:
        engine.dispose()


def build(url: str, snapshot_id: int) -> dict[str, Any]:
    from arena.db import make_engine, make_sessionmaker, session_scope
    from arena.exports.encode import encode
    from arena.exports.snapshot_votes import counted_batches
    from arena.leaderboard.views import snapshot_download

    engine = make_engine(url)
    out: dict[str, Any] = {}
    try:
        factory = make_sessionmaker(engine)
        for fmt in FORMATS:

            def work(fmt: str = fmt) -> tuple[int, str]:
                h, size = hashlib.sha256(), 0
                with session_scope(factory) as session:
                    wanted = snapshot_download(session, snapshot_id)
                    for chunk in encode(counted_batches(session, wanted.runs), wanted.columns, fmt):  # type: ignore[arg-type]
                        h.update(chunk)
                        size += len(chunk)
                return size, h.hexdigest()

            (size, digest), seconds, mib = peak_rss(work)
            out[fmt] = {"seconds": r3(seconds), "bytes": size, "peak_rss_growth_mib": round(mib, 1)}
            if fmt == "jsonl":
                out[fmt]["sha256"] = digest
    finally:
        engine.dispose()
    return out


def serve(url: str, snapshot_id: int) -> dict[str, Any]:
    import httpx
    from pydantic import SecretStr

    from arena.settings import Settings

    settings = Settings(
        database_url=url,
        secret_key=SecretStr("bench-snapshots-secret-key-0123456789"),
        recompute_seconds=3600,
        health_interval_seconds=3600,
    )
    out: dict[str, Any] = {}
    server = arena_server(settings).start()
    try:
        with httpx.Client(base_url=server.url, timeout=600) as client:
            sha = client.get(f"/api/v1/snapshots/{snapshot_id}").json()["sha256"]
            for fmt in FORMATS:

                def work(fmt: str = fmt) -> tuple[int, str, float]:
                    h, size, first = hashlib.sha256(), 0, 0.0
                    t0 = time.perf_counter()
                    with client.stream(
                        "GET", f"/api/v1/snapshots/{snapshot_id}/votes", params={"format": fmt}
                    ) as r:
                        r.raise_for_status()
                        for chunk in r.iter_bytes():
                            if not first:
                                first = time.perf_counter() - t0
                            h.update(chunk)
                            size += len(chunk)
                    return size, h.hexdigest(), first

                (size, digest, first), seconds, mib = peak_rss(work)
                out[fmt] = {
                    "seconds": r3(seconds),
                    "first_byte_s": r3(first),
                    "bytes": size,
                    "peak_rss_growth_mib": round(mib, 1),
                }
                if fmt == "jsonl":
                    out[fmt]["sha256_matches_snapshot"] = digest == sha
    finally:
        server.stop()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--voters", type=int, default=4000)
    parser.add_argument("--append", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "snapshots.json")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_at_start": loadavg(),
        },
        "setup": {
            "database": "PostgreSQL (fresh database per run, dropped afterwards)",
            "seed": SEED,
            "args": {k: (rel(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        },
        "measurements": {},
    }
    meas = out["measurements"]
    with fresh_postgres(args.pg, "snap") as url:
        migrated(url)
        ids = register_models(url, ["http://127.0.0.1:9"], args.models)  # never contacted
        seeded = seed_votes_1m(url, Voters(args.voters), ids, args.votes, SEED)
        seeded.pop("truth")
        meas["seeded"] = seeded
        # Written after every phase, so a failure late in a long run keeps what was measured.
        meas["recompute_full"] = recompute_full(url, args.repeat)
        write_results(args.out, out)
        meas["recompute_appended"], first = recompute_appended(url, args.votes, args.append)
        write_results(args.out, out)
        meas["build"] = build(url, first)
        write_results(args.out, out)
        meas["serve"] = serve(url, first)
    out["machine"]["load_avg_at_end"] = loadavg()
    print(write_results(args.out, out))


if __name__ == "__main__":
    main()
