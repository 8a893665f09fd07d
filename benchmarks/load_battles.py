"""Load: concurrent voters through whole battles -> benchmarks/results/load_battles.json.

    .venv/bin/python -m benchmarks.load_battles [--workers 1,2] [--battles 600]
        [--concurrency 16] [--seconds 60] [--py-spy PATH]
    .venv/bin/python -m benchmarks.load_battles --vllm [--battles 20 --concurrency 2]

Each simulated voter (a signed cookie and a source address of its own /24 on 127.0.0.0/8)
goes through battles one after the other: ``POST /api/v1/battles``, ``POST .../messages``
read to ``[DONE]`` (both sides streamed and stored), ``POST .../vote``. The load generator
(async httpx, uvloop) runs in its own process, bounded by a battle count and a deadline,
loopback only. The arena runs under uvicorn with ``--workers`` processes on a fresh
PostgreSQL database each time (``ARENA_RECOMPUTE_SECONDS=1``: the board recomputes every
second meanwhile, ``ARENA_MIN_READ_SECONDS=0``, limits out of the way).

Backends: two fake OpenAI-compatible servers (``python -m serving.fakes``, processes of their
own, answering at once) serving four models; with ``--vllm`` the CPU demo fleet instead,
which must be running (``arena fleet up --config fleets/cpu-demo.toml``), with
``ARENA_MAX_TOKENS=32``.

Reported per worker count: battles/s (= votes/s: one vote per battle), latency per step
(create, time to first token, whole turn, vote, whole battle) p50/p90/p99, errors by kind
(the goal is none), CPU ms per battle of the app, PostgreSQL and the load generator, and the
load average around each figure (the machine is shared). After each run every battle the
load generator saw voted has exactly one vote row, and there are no others.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from arena.db import make_engine
from arena.models.service import OperatorModel
from arena.votes.tables import Vote
from benchmarks.battles.journeys import run_journeys
from benchmarks.battles.load import App, CpuMeter
from benchmarks.battles.seed import Voters, fresh_postgres
from benchmarks.bench_proxy import fake_process
from benchmarks.common import RESULTS, ROOT, loadavg, migrated, register_models, write_results
from serving.threaded import free_port

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def fake_fleet() -> Iterator[list[OperatorModel]]:
    with fake_process("fake-a") as a, fake_process("fake-b") as b:
        yield [
            OperatorModel(name=f"Fake-{k}", base_url=base + "/v1", api_model=served)
            for k, (base, served) in enumerate([(a, "fake-a"), (b, "fake-b")] * 2)
        ]


@contextlib.contextmanager
def vllm_fleet() -> Iterator[list[OperatorModel]]:
    from arena.models.service import operator_model_from_fleet
    from serving.fleet import load_fleet

    fleet = load_fleet(ROOT / "fleets/cpu-demo.toml")
    yield [operator_model_from_fleet(e) for e in fleet.models]


def one_run(
    models: list[OperatorModel], workers: int, args: argparse.Namespace, voters: Voters
) -> dict[str, Any]:
    with fresh_postgres(PG, "load") as url:
        migrated(url)
        register_models(url, models)
        env = {"ARENA_MAX_TOKENS": str(args.max_tokens), "ARENA_HEALTH_INTERVAL_SECONDS": "3600"}
        app = App(url, free_port(), "uvicorn", 1.0, workers, env)
        try:
            plan = {
                "voters": list(zip(voters.cookies, voters.addresses, strict=True)),
                "battles": args.battles,
                "concurrency": args.concurrency,
                "deadline_s": args.seconds,
                "timeout_s": args.timeout,
            }
            result = run_journeys(app, plan, CpuMeter(app.pid), args.py_spy)
        finally:
            app.stop()
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                votes = conn.scalar(select(func.count()).select_from(Vote))
                distinct = conn.scalar(select(func.count(func.distinct(Vote.battle_id))))
        finally:
            engine.dispose()
        result["votes_in_database"] = votes
        result["votes_match_answered"] = votes == distinct == result["battles_done"]
        result["workers"] = workers
        return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--battles", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16, help="voters at once")
    parser.add_argument("--voters", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=60.0, help="deadline of a run")
    parser.add_argument("--timeout", type=float, default=60.0, help="per request")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--vllm", action="store_true", help="the running CPU demo fleet")
    parser.add_argument("--py-spy", default=None, help="a py-spy binary: profile each run")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out_path = args.out or RESULTS / (
        "load_battles_vllm.json" if args.vllm else "load_battles.json"
    )
    voters = Voters(args.voters)
    out: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "setup": {
            "backends": "CPU vLLM demo fleet (fleets/cpu-demo.toml)"
            if args.vllm
            else "2 fake OpenAI-compatible servers in processes of their own, 4 models",
            "database": "PostgreSQL, a fresh database per run",
            "server": "uvicorn (benchmarks.battles.load _serve), access log off",
            "env": {"ARENA_RECOMPUTE_SECONDS": 1, "ARENA_MIN_READ_SECONDS": 0},
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        },
        "runs": [],
    }
    fleet = vllm_fleet() if args.vllm else fake_fleet()
    with fleet as models:
        for workers in (int(w) for w in args.workers.split(",")):
            print(f"{workers} worker(s)…", flush=True)
            out["runs"].append(one_run(models, workers, args, voters))
            write_results(out_path, out)
    runs = out["runs"]
    if len(runs) > 1 and runs[0]["battles_per_s"]:
        out["speedup_last_over_first"] = round(
            runs[-1]["battles_per_s"] / runs[0]["battles_per_s"], 2
        )
    out["machine"]["load_avg_at_end"] = loadavg()
    write_results(out_path, out)
    for r in runs:
        lat = r["latency_ms"]
        print(
            f"workers={r['workers']}: {r['battles_per_s']} battles/s ({r['battles_done']} done), "
            f"battle p50/p99 {lat['battle'].get('p50')}/{lat['battle'].get('p99')} ms, "
            f"ttft p50 {lat['ttft'].get('p50')} ms, vote p99 {lat['vote'].get('p99')} ms, "
            f"errors {r['errors']}, cpu/battle {r['cpu_ms_per_battle']} ms, "
            f"load {r['load_avg_before'][0]}→{r['load_avg_after'][0]}, "
            f"votes ok {r['votes_match_answered']}"
        )
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
