"""Warm start of the demo fleet -> benchmarks/results/startup.json.

    .venv/bin/python -m benchmarks.bench_startup [--fleet fleets/cpu-demo.toml]
        [--variants baseline,uni] [--repeats 1]

"Warm" means the cache is ready (runtime venv and converted models prepared, page cache
hot): what ``make demo`` waits for on every run after the first. Per variant and repeat the
fleet is started here, on free ports and in a run directory of its own (so running demo or
test servers are left alone), until every ``/health`` is 200; then stopped by PID.
Recorded: seconds from the ``fleet_up`` call to all healthy, each server's own ready
seconds, the processes per server, the cores their threads may use, one greedy answer's
decode rate (an option that starts faster but decodes slower is no gain), and the time of the cache checks ``make demo`` runs
first (``python -m serving.prepare runtime`` and ``models`` with everything ready).

A variant changes the fleet's entries (flags, environment) the way a fleet file would;
keep in ``fleets/cpu-demo.toml`` what measures faster. Timings depend on the machine's
load: the JSON records the load average next to them. No randomness is involved.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import RESULTS, ROOT, loadavg, rel, write_results
from serving.cache import cache_dir
from serving.fleet import Fleet, ModelEntry, load_fleet
from serving.launcher import LaunchError, fleet_down, fleet_up
from serving.process import group_members
from serving.threaded import free_port

Variant = Callable[[ModelEntry], ModelEntry]
SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
PROMPT = "Write a short story about a lighthouse keeper."


def _with(entry: ModelEntry, *, args: tuple[str, ...] = (), **env: str) -> ModelEntry:
    return entry.model_copy(
        update={"extra_args": (*entry.extra_args, *args), "env": {**entry.env, **env}}
    )


VARIANTS: dict[str, Variant] = {
    "baseline": lambda e: e,
    # AsyncLLM always runs the engine in its own process; with the "uni" executor the model
    # runs in that process too, so one fewer spawned interpreter importing vLLM and torch.
    # The CPU platform switches "uni" back to "mp" unless V1 multiprocessing is off. Measured:
    # starts faster, but decodes several times slower (vLLM: "OMP requires the MP executor").
    # VLLM_WORKER_MULTIPROC_METHOD=fork is no variant: the CPU platform forces "spawn".
    "uni": lambda e: _with(
        e, args=("--distributed-executor-backend", "uni"), VLLM_ENABLE_V1_MULTIPROCESSING="0"
    ),
}


def variant_fleet(fleet: Fleet, variant: Variant, run_dir: Path) -> Fleet:
    """The fleet with ``variant`` applied, on free ports, its state in ``run_dir``."""
    models = tuple(
        variant(entry).model_copy(update={"port": free_port()}) for entry in fleet.models
    )
    options = fleet.options.model_copy(update={"run_dir": str(run_dir)})
    return fleet.model_copy(update={"models": models, "options": options})


def cache_checks() -> dict[str, float]:
    """Seconds of the no-op prepare steps ``make demo`` runs before ``arena demo``."""
    out: dict[str, float] = {}
    for what in ("runtime", "models"):
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "serving.prepare", what],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        out[what] = round(time.monotonic() - started, 2)
    return out


def cores(pgid: int) -> list[str]:
    """The CPU lists every thread of the server's processes may run on (its core binding)."""
    allowed = set()
    for pid in group_members(pgid):
        for task in Path(f"/proc/{pid}/task").glob("*/status"):
            with contextlib.suppress(OSError):
                for line in task.read_text().splitlines():
                    if line.startswith("Cpus_allowed_list:"):
                        allowed.add(line.split(":", 1)[1].strip())
    return sorted(allowed)


def decode_rate(base_url: str, served_name: str) -> float:
    """Tokens/s of one greedy 64-token answer: a start-up option must not slow decoding."""
    body = {
        "model": served_name,
        "messages": [SYSTEM, {"role": "user", "content": PROMPT}],
        "max_tokens": 64,
        "temperature": 0,
        "ignore_eos": True,
    }
    started = time.monotonic()
    response = httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=300)
    response.raise_for_status()
    tokens = int(response.json()["usage"]["completion_tokens"])
    return round(tokens / (time.monotonic() - started), 2)


def start_once(fleet: Fleet, run_dir: Path) -> dict[str, Any]:
    load = loadavg()[0]
    started = time.monotonic()
    servers = fleet_up(fleet, run_dir=run_dir, log=lambda _: None)
    try:
        total = time.monotonic() - started
        return {
            "all_healthy_seconds": round(total, 2),
            "ready_seconds": {name: s.ready_seconds for name, s in servers.items()},
            "processes": {name: len(group_members(s.pid)) for name, s in servers.items()},
            "cores": {name: cores(s.pid) for name, s in servers.items()},
            "decode_tokens_per_s_alone": {
                name: decode_rate(s.base_url, s.served_name) for name, s in servers.items()
            },
            "load_average_1m_before": load,
        }
    finally:
        fleet_down(run_dir, log=lambda _: None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_startup")
    parser.add_argument("--fleet", type=Path, default=ROOT / "fleets" / "cpu-demo.toml")
    parser.add_argument("--variants", default="baseline", help=f"any of {sorted(VARIANTS)}")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS / "startup.json")
    args = parser.parse_args(argv)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {sorted(VARIANTS)}")
    fleet = load_fleet(args.fleet)
    # Prepared (or reused) once, outside the timings: this benchmark is about warm starts.
    fleet_down(cache_dir() / "run" / "bench-startup", log=lambda _: None)
    results: dict[str, Any] = {
        "benchmark": "startup",
        "fleet": rel(args.fleet),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cache_checks_seconds": cache_checks(),
        "variants": {},
    }
    for name in names:
        run_dir = cache_dir() / "run" / "bench-startup"
        runs = []
        for _ in range(args.repeats):
            try:
                runs.append(start_once(variant_fleet(fleet, VARIANTS[name], run_dir), run_dir))
            except LaunchError as exc:  # a variant vLLM refuses is a result too
                runs.append({"error": str(exc).splitlines()[0]})
            print(f"{name}: {runs[-1]}", flush=True)
        results["variants"][name] = runs
    print(write_results(args.output, results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
