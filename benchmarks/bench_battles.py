"""Battle/vote path benchmark on PostgreSQL -> benchmarks/results/battles.json.

    .venv/bin/python -m benchmarks.bench_battles [--quick] [--no-sqlite] [--no-1m] [--big-votes N]
        [--workers N] [--py-spy PATH]

Everything runs on loopback against fresh databases that the script creates and drops
(``arena_bench_<tag>_<random>`` on ``--pg``, default postgresql+psycopg://postgres@127.0.0.1:5432).
Fixed seeds; three processes take part in the HTTP phases:

* this orchestrator: creates the database, migrates it, runs two fake OpenAI-compatible
  backends (``serving.fakes.FakeServer``, threads) and registers the models against them;
* the app: ``create_app(Settings())`` under uvicorn in a subprocess on a free loopback port
  (``--server arena`` runs the real ``arena serve`` command instead, access log included;
  ``--workers N`` runs N uvicorn workers on that port, and the app CPU counts all of them),
  with ``ARENA_RATE_LIMIT_VOTES/BATTLES=1000000/minute``, ``ARENA_MIN_READ_SECONDS=0`` and
  ``ARENA_RECOMPUTE_SECONDS=1``, so the leaderboard recomputes in the background all along;
* the load generator: async httpx (uvloop) in a subprocess, bounded by a request count *and*
  a deadline, so it always stops by itself. One signed cookie per simulated voter; voters
  live in 256 /24 networks (source addresses 127.N.M.1 on loopback), so the per-address
  limits and the per-network abuse rule see realistic keys rather than one address.

Phases (``measurements`` in the JSON):

1. ``battles_api``: POST /api/v1/battles, closed loop, concurrency 16.
2. ``turns_api``: POST /api/v1/battles/{id}/messages (both SSE streams from the fake
   backends, stored) for a subset of those battles.
3. The remaining battles needed for the vote phases are seeded directly in the database
   (``battles``/``sampling_draws``/``battle_turns``/``battle_responses`` rows as
   ``create_battle``/``open_turn``/``close_turn`` leave them: done turn, both answers done,
   ``last_finished_at`` set), with the client/address hashes the app itself computes.
4. ``votes_saturation``: POST /api/v1/battles/{id}/vote, closed loop (concurrency 32), each
   vote a distinct battle from the battle's own client; the leaderboard recomputes every
   second meanwhile (the snapshots written in the window are counted).
5. ``votes_paced``: the same at a fixed arrival rate (open loop, ``--vote-rate``, default
   1000/s; latency counted from the scheduled send time, so queueing is not hidden).
   ``bare_insert_saturation``: the saturation phase's requests against a bare FastAPI
   endpoint doing one INSERT (benchmarks/battles/bare.py: same uvicorn settings and
   workers, same database server, same load generator), with the arena still up beside it;
   ``votes_per_s_over_bare_insert_per_s`` is the ratio. ``--py-spy PATH`` adds
   ``votes_profiled``: a shorter saturation phase with every app process sampled by py-spy
   (``profile``: CPU shares by layer and by function).
6. ``recompute_1m``: a second database with 1,000,000 synthetic votes (+ their battles and
   sampling draws; ~2% excluded with a ledger row) for 50 models with seeded ground-truth
   ratings, bulk-loaded with COPY; times ``arena.leaderboard.service.recompute`` (in a
   rolled-back transaction, repeated), ``gather`` (the SQL aggregation) and ``fit`` apart,
   and ``EXPLAIN ANALYZE`` of the aggregation. ``battles_api_1m`` then creates battles
   through the API against that database (the sampling ledger holds 1M draws).
   ``--big-votes N`` also runs a vote phase there (recompute of 1M every second meanwhile).
7. ``recompute_1m_sqlite``: the same recompute on SQLite (skip with ``--no-sqlite``).

CPU use per phase (app process, load generator, PostgreSQL processes, whole machine) and
the load average are recorded next to every figure: the 2 cores are shared.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.battles import ANSWER, NETWORKS, SEED
from benchmarks.battles.bare import create_table
from benchmarks.battles.load import App, CpuMeter
from benchmarks.battles.phases import phase_battles, phase_votes, prepare_votable, with_winners
from benchmarks.battles.recompute import (
    latest_ratings,
    rank_agreement,
    sqlite_recompute,
    time_recompute,
)
from benchmarks.battles.seed import (
    Voters,
    fresh_postgres,
    register_models,
    seed_votes_1m,
    truth_ratings,
)
from benchmarks.common import RESULTS, loadavg, migrated, rel, write_results
from serving.fakes import FakeModel, FakeServer
from serving.threaded import free_port


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--server", choices=["uvicorn", "arena"], default="uvicorn")
    parser.add_argument("--port", type=int, default=0, help="app port (default: a free one)")
    parser.add_argument(
        "--workers", type=int, default=1, help="app processes on the port (uvicorn workers)"
    )
    parser.add_argument("--models", type=int, default=8, help="models in the vote benchmark")
    parser.add_argument("--voters", type=int, default=4000)
    parser.add_argument("--battles", type=int, default=5000, help="battles created via the API")
    parser.add_argument("--turns", type=int, default=1000, help="turns sent via the API")
    parser.add_argument("--votes", type=int, default=20000, help="votes, saturation phase")
    parser.add_argument(
        "--vote-rate",
        type=float,
        default=None,
        help="paced phase arrival rate (default: 60%% of the closed-loop rate just measured)",
    )
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--big", type=int, default=1_000_000, help="votes in the recompute DB")
    parser.add_argument("--big-votes", type=int, default=0, help="vote phase on the big DB")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--no-bare", action="store_true", help="skip the bare one-INSERT endpoint yardstick"
    )
    parser.add_argument(
        "--py-spy", default=None, help="a py-spy binary: adds a profiled vote phase"
    )
    parser.add_argument("--profile-votes", type=int, default=4000)
    parser.add_argument("--no-1m", action="store_true", help="skip part 2 (the 1M-vote database)")
    parser.add_argument("--out", type=Path, default=RESULTS / "battles.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.battles, args.turns, args.votes, args.voters = 400, 100, 2000, 500
        args.paced_seconds, args.big, args.repeat = 3.0, 100_000, 2

    rng = np.random.default_rng(SEED)
    voters = Voters(args.voters)
    out: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_at_start": loadavg(),
        },
        "setup": {
            "database": "PostgreSQL (fresh database per run, dropped afterwards)",
            "server": "create_app(Settings()) under uvicorn, "
            + ("1 process" if args.workers == 1 else f"{args.workers} workers (app_from_env)")
            + ", access log off, keep-alive 75 s"
            if args.server == "uvicorn"
            else f"`arena serve --workers {args.workers}` (uvicorn, access log on)",
            "backends": "2 serving.fakes.FakeServer (fast fake OpenAI-compatible) on loopback",
            "env": {
                "ARENA_RATE_LIMIT_VOTES": "1000000/minute",
                "ARENA_RATE_LIMIT_BATTLES": "1000000/minute",
                "ARENA_MIN_READ_SECONDS": 0,
                "ARENA_RECOMPUTE_SECONDS": 1,
            },
            "load_generator": "async httpx + uvloop in its own process; one cookie per voter,"
            f" {args.voters} voters over {NETWORKS} /24 source networks on 127.0.0.0/8",
            "seed": SEED,
            "args": {k: (rel(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        },
        "measurements": {},
    }
    meas = out["measurements"]
    servers = [FakeServer(FakeModel(answer=ANSWER)).start() for _ in range(2)]
    try:
        # -------- part 1: the vote path under load, leaderboard recomputing every second
        with fresh_postgres(args.pg, "votes") as url:
            migrated(url)
            model_ids = register_models(url, [s.base_url for s in servers], args.models)
            truth = truth_ratings(model_ids, SEED)
            app = App(url, args.port or free_port(), args.server, 1.0, args.workers)
            meter = CpuMeter(app.pid)
            try:
                print("battles via the API…", flush=True)
                res, created = phase_battles(app, voters, meter, args.battles, 30.0, 16)
                res.pop("window")
                meas["battles_api"] = res
                paced_cap = int((args.vote_rate or 1000.0) * args.paced_seconds)
                profiled = args.profile_votes if args.py_spy else 0
                needed = args.votes + paced_cap + profiled
                print("turns…", flush=True)
                info, ready = prepare_votable(
                    url,
                    app,
                    voters,
                    meter,
                    model_ids,
                    created,
                    needed,
                    args.turns,
                    60.0,
                    rng,
                    "d0",
                )
                meas["turns_api"] = info.pop("turns_api", None)
                out["setup"]["votable_battles"] = info
                plan = with_winners(url, ready, truth, rng)
                print("votes, saturation…", flush=True)
                meas["votes_saturation"] = phase_votes(
                    app, voters, meter, plan[: args.votes], 30.0, args.concurrency, None, url
                )
                sat = meas["votes_saturation"]["per_s"] or 1.0
                if not args.no_bare:
                    print("bare one-INSERT endpoint, same load…", flush=True)
                    meas["bare_insert_saturation"] = bare_phase(
                        url, args, voters, plan[: args.votes]
                    )
                    bare_rate = meas["bare_insert_saturation"]["per_s"] or 1.0
                    meas["votes_per_s_over_bare_insert_per_s"] = round(sat / bare_rate, 3)
                if profiled:
                    print("votes under py-spy…", flush=True)
                    meas["votes_profiled"] = phase_votes(
                        app,
                        voters,
                        meter,
                        plan[args.votes : args.votes + profiled],
                        15.0,
                        args.concurrency,
                        None,
                        url,
                        py_spy=args.py_spy,
                    )
                rate = args.vote_rate or max(1.0, round(0.6 * sat))
                paced_n = min(paced_cap, int(rate * args.paced_seconds))
                print(f"votes, paced at {rate}/s…", flush=True)
                meas["votes_paced"] = phase_votes(
                    app,
                    voters,
                    meter,
                    plan[len(plan) - paced_n :],
                    args.paced_seconds + 5,
                    256,
                    rate,
                    url,
                )
                final = latest_ratings(url)
                names = {mid: f"Zeta-{k:02d}" for k, mid in enumerate(model_ids)}
                meas["votes_board_rank_corr_vs_truth"] = rank_agreement(
                    final, {names[m]: r for m, r in truth.items()}
                )
            finally:
                app.stop()

        # -------- part 2: recompute with 1M votes (and battle creation with a 1M ledger)
        if args.no_1m:
            args.no_sqlite = True
        else:
            part_two(args, meas, servers, voters, rng)
        if not args.no_sqlite:
            print("recompute on SQLite…", flush=True)
            meas["recompute_1m_sqlite"] = sqlite_recompute(
                voters, args.big, 50, SEED + 1, max(2, args.repeat // 2)
            )
    finally:
        for s in servers:
            s.stop()
    out["machine"]["load_avg_at_end"] = loadavg()
    write_results(args.out, out)
    print_summary(out)
    print(f"\nwrote {args.out}")


def part_two(
    args: argparse.Namespace,
    meas: dict[str, Any],
    servers: list[FakeServer],
    voters: Voters,
    rng: np.random.Generator,
) -> None:
    """Recompute with 1M votes, and battle creation with a 1M-draw sampling ledger."""
    print(f"recompute with {args.big} votes…", flush=True)
    with fresh_postgres(args.pg, "1m") as url:
        migrated(url)
        big_models = register_models(url, [s.base_url for s in servers], 50)
        seeded = seed_votes_1m(url, voters, big_models, args.big, SEED + 1)
        truth_big = seeded.pop("truth")
        rec = time_recompute(url, args.repeat)
        rec["rank_corr_vs_truth"] = rank_agreement(rec.pop("_ratings"), truth_big)
        rec["seeding"] = seeded
        rec["load_avg"] = loadavg()
        meas["recompute_1m"] = rec
        print("battles via the API with the big ledger…", flush=True)
        app = App(url, args.port or free_port(), args.server, 1.0, args.workers)
        meter = CpuMeter(app.pid)
        try:
            res, created = phase_battles(app, voters, meter, 300, 20.0, 8)
            res.pop("window")
            meas["battles_api_1m_ledger"] = res
            if args.big_votes:
                _, ready = prepare_votable(
                    url,
                    app,
                    voters,
                    meter,
                    big_models,
                    created,
                    args.big_votes,
                    0,
                    0.0,
                    rng,
                    "d1",
                )
                truth_ids = truth_ratings(big_models, SEED + 1)
                plan = with_winners(url, ready, truth_ids, rng)
                meas["votes_saturation_1m"] = phase_votes(
                    app, voters, meter, plan, 30.0, args.concurrency, None, url
                )
        finally:
            app.stop()


def bare_phase(
    url: str, args: argparse.Namespace, voters: Voters, battles: list[tuple[str, int, str]]
) -> dict[str, Any]:
    """The vote phase's requests against the bare one-INSERT app (same workers, settings,
    database server and load generator), while the arena stays up beside it."""
    create_table(url)
    bare = App(url, free_port(), "bare", 1.0, args.workers)
    try:
        return phase_votes(
            bare,
            voters,
            CpuMeter(bare.pid),
            battles,
            30.0,
            args.concurrency,
            None,
            url,
            kind="bare",
        )
    finally:
        bare.stop()


def print_summary(out: dict[str, Any]) -> None:
    m = out["measurements"]
    rows: list[tuple[str, str]] = []

    def http(label: str, key: str) -> None:
        r = m.get(key)
        if not r:
            return
        lat = r["latency_ms"]
        cpu = r["cpu"]
        rows.append(
            (
                label,
                f"{r['per_s']}/s ok={r['ok']}/{r['requests']} p50={lat.get('p50')} ms "
                f"p99={lat.get('p99')} ms  app={cpu['app_cpu_s']}s pg={cpu['postgres_cpu_s']}s "
                f"loadgen={r['loadgen_cpu_s']}s busy={cpu['machine_busy_cores']} cores "
                f"load={r['load_avg_before'][0]}→{r['load_avg_after'][0]}"
                + (
                    f" snapshots={r['snapshots_written_during_phase']}"
                    if "snapshots_written_during_phase" in r
                    else ""
                ),
            )
        )

    http("battles created (API)", "battles_api")
    http("turns (API, SSE)", "turns_api")
    http("votes, closed loop", "votes_saturation")
    http("votes, paced", "votes_paced")
    http("bare one-INSERT endpoint", "bare_insert_saturation")
    http("votes, under py-spy", "votes_profiled")
    if "votes_per_s_over_bare_insert_per_s" in m:
        rows.append(("votes/s over bare INSERT/s", str(m["votes_per_s_over_bare_insert_per_s"])))
    http("battles created, 1M ledger", "battles_api_1m_ledger")
    http("votes, closed loop, 1M DB", "votes_saturation_1m")
    for key, label in (("recompute_1m", "PostgreSQL"), ("recompute_1m_sqlite", "SQLite")):
        r = m.get(key)
        if r:
            rows.append(
                (
                    f"recompute 1M votes ({label})",
                    f"total={r['recompute_s']['median']} s  SQL gather="
                    f"{r['gather_sql_s']['median']} s  fit={r['fit_s']['median']} s "
                    f"(included={r['votes_included']})",
                )
            )
    width = max(len(k) for k, _ in rows)
    print()
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(
        f"load avg start/end: {out['machine']['load_avg_at_start']} / "
        f"{out['machine'].get('load_avg_at_end')}"
    )


if __name__ == "__main__":
    main()
