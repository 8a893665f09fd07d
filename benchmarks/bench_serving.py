"""Serving benchmark on real CPU vLLM servers -> benchmarks/results/serving.json.

    .venv/bin/python -m benchmarks.bench_serving [--fleet fleets/cpu-demo.toml] [--quick]

Measures, on the fleet's servers (started here in a run directory of their own; the fleet's
ports must be free):

* ``ready``: seconds from start to ``/health`` 200, cold (page cache of the runtime and
  weights dropped for our own files first) and warm (restarted right after);
* ``rss``: RSS and PSS of each server's process group, idle after warm-up;
* ``decode``: tokens/s of one stream alone per model, and of one stream on each at once;
* ``client_overhead``: time to first token through ``serving.client.stream_chat`` vs. a
  bare ``httpx`` stream reading SSE lines, same prompts alternating, p50/p99 and the p50 of
  the paired differences; ``client_overhead_fake`` does the same against the fake server,
  which isolates the client's own cost from the model's noise;
* ``concurrent``: aggregate tokens/s of two battles at once (two streams per server).

Each measurement is a function ``(ctx) -> dict`` in ``MEASUREMENTS``; add more (e.g. the
battle proxy vs. direct) by appending to it. Prompts are fixed and sampling is greedy
(temperature 0), so reruns ask the same questions. Timings depend on the machine's load:
the JSON records the load average next to them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import RESULTS, ROOT, percentile, write_results
from serving import prepare
from serving.cache import cache_dir
from serving.client import Done, Endpoint, make_http_client, stream_chat
from serving.fleet import Fleet, load_fleet
from serving.launcher import check_health, fleet_down, fleet_up
from serving.process import group_members

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
PROMPTS = [
    "Name three colours.",
    "What is the capital of France?",
    "Give me one tip for writing clear code.",
    "Say hello in French.",
    "What is 7 times 8?",
]
LONG_PROMPT = "Write a long story about a lighthouse keeper and a storm."


@dataclass
class Context:
    fleet: Fleet
    run_dir: Path
    quick: bool
    results: dict[str, Any] = field(default_factory=dict)

    def endpoints(self) -> dict[str, Endpoint]:
        return {m.name: Endpoint(m.base_url, m.served_name) for m in self.fleet.models}


def drop_page_cache(paths: list[Path]) -> int:
    """Evict our own files (runtime venv, converted weights) from the page cache."""
    count = 0
    for root in paths:
        for path in [root] if root.is_file() else root.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                count += 1
            finally:
                os.close(fd)
    return count


def up(ctx: Context) -> dict[str, float | None]:
    servers = fleet_up(ctx.fleet, run_dir=ctx.run_dir, log=lambda _: None)
    return {name: state.ready_seconds for name, state in servers.items()}


def measure_ready(ctx: Context) -> dict[str, Any]:
    for model in ctx.fleet.models:
        if check_health(model.base_url):
            raise SystemExit(f"port {model.port} is in use: stop the running fleet first")
    roots = [prepare.runtime_dir()] + [
        prepare.model_dir(m.package, m.slug) for m in ctx.fleet.models if m.package
    ]
    dropped = drop_page_cache(roots)
    cold = up(ctx)
    fleet_down(ctx.run_dir, log=lambda _: None)
    warm = up(ctx)
    return {
        "note": "both servers started together; cold = after evicting "
        f"{dropped} runtime/weight files from the page cache",
        "cold_seconds": cold,
        "warm_seconds": warm,
    }


def measure_rss(ctx: Context) -> dict[str, Any]:
    from serving.launcher import read_state

    out: dict[str, Any] = {}
    for name, state in read_state(ctx.run_dir).items():
        rss = pss = 0
        members = group_members(state.pid)
        for pid in members:
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
            except OSError:
                continue
        out[name] = {"processes": len(members), "rss_gb": rss / 1e9, "pss_gb": pss / 1e9}
    return out


async def one_stream(client: httpx.AsyncClient, endpoint: Endpoint, max_tokens: int) -> Done:
    messages = [SYSTEM, {"role": "user", "content": LONG_PROMPT}]
    async for event in stream_chat(
        client, endpoint, messages, max_tokens=max_tokens, temperature=0.0
    ):
        if isinstance(event, Done):
            return event
    raise RuntimeError("no Done")


def summary(done: list[Done]) -> dict[str, Any]:
    rates = [d.stats.tokens_per_s for d in done if d.stats.tokens_per_s]
    return {
        "tokens_per_s_median": statistics.median(rates) if rates else None,
        "tokens_per_s_runs": [round(r, 2) for r in rates],
        "ttft_s_median": statistics.median(d.stats.ttft or 0 for d in done),
        "output_tokens": [d.stats.output_tokens for d in done],
    }


async def measure_decode(ctx: Context) -> dict[str, Any]:
    runs, tokens = (1, 64) if ctx.quick else (3, 256)
    out: dict[str, Any] = {"max_tokens": tokens, "alone": {}, "both_at_once": {}}
    async with make_http_client() as client:
        await asyncio.gather(*(one_stream(client, e, 4) for e in ctx.endpoints().values()))
        for name, endpoint in ctx.endpoints().items():
            out["alone"][name] = summary(
                [await one_stream(client, endpoint, tokens) for _ in range(runs)]
            )
        together: dict[str, list[Done]] = {name: [] for name in ctx.endpoints()}
        for _ in range(runs):
            names = list(ctx.endpoints())
            dones = await asyncio.gather(
                *(one_stream(client, ctx.endpoints()[n], tokens) for n in names)
            )
            for name, done in zip(names, dones, strict=True):
                together[name].append(done)
        out["both_at_once"] = {name: summary(d) for name, d in together.items()}
    return out


async def raw_ttft(client: httpx.AsyncClient, endpoint: Endpoint, messages: list[Any]) -> float:
    body = {
        "model": endpoint.api_model,
        "messages": messages,
        "max_tokens": 8,
        "temperature": 0.0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.monotonic()
    first: float | None = None
    async with client.stream("POST", endpoint.url("/v1/chat/completions"), json=body) as r:
        async for line in r.aiter_lines():
            content = '"content":"' in line and '"content":""' not in line
            if first is None and line.startswith("data: {") and content:
                first = time.monotonic()
    assert first is not None
    return first - started


async def client_ttft(client: httpx.AsyncClient, endpoint: Endpoint, messages: list[Any]) -> float:
    async for event in stream_chat(client, endpoint, messages, max_tokens=8, temperature=0.0):
        if isinstance(event, Done):
            assert event.stats.ttft is not None
            return event.stats.ttft
    raise RuntimeError("no Done")


async def measure_client_overhead(ctx: Context) -> dict[str, Any]:
    rounds = 2 if ctx.quick else 6
    out: dict[str, Any] = {"requests_per_side": rounds * len(PROMPTS)}
    async with make_http_client() as client:
        for name, endpoint in ctx.endpoints().items():
            ours: list[float] = []
            raw: list[float] = []
            for r in range(rounds):
                for i, prompt in enumerate(PROMPTS):
                    messages = [SYSTEM, {"role": "user", "content": prompt}]
                    pair: list[Callable[[], Awaitable[float]]] = [
                        lambda m=messages, e=endpoint: client_ttft(client, e, m),
                        lambda m=messages, e=endpoint: raw_ttft(client, e, m),
                    ]
                    order = pair if (r + i) % 2 == 0 else pair[::-1]
                    first, second = [await f() for f in order]
                    a, b = (first, second) if order is pair else (second, first)
                    ours.append(a)
                    raw.append(b)
            diffs = [a - b for a, b in zip(ours, raw, strict=True)]
            out[name] = {
                "client_ttft_ms": {
                    "p50": percentile(ours, 50) * 1000,
                    "p99": percentile(ours, 99) * 1000,
                },
                "raw_httpx_ttft_ms": {
                    "p50": percentile(raw, 50) * 1000,
                    "p99": percentile(raw, 99) * 1000,
                },
                "overhead_ms_p50": (percentile(ours, 50) - percentile(raw, 50)) * 1000,
                "paired_difference_ms": {
                    "p50": percentile(diffs, 50) * 1000,
                    "p99": percentile(diffs, 99) * 1000,
                },
            }
    return out


async def measure_client_overhead_fake(ctx: Context) -> dict[str, Any]:
    """The client's own cost, without a model's noise: both paths against the fake server."""
    from serving.fakes import FakeModel, FakeServer

    n = 100 if ctx.quick else 400
    ours: list[float] = []
    raw: list[float] = []
    async with FakeServer(FakeModel(answer="one two three four five six seven eight")) as server:
        endpoint = server.endpoint()
        messages = [SYSTEM, {"role": "user", "content": PROMPTS[0]}]
        async with make_http_client() as client:
            for i in range(n):
                if i % 2:
                    raw.append(await raw_ttft(client, endpoint, messages))
                    ours.append(await client_ttft(client, endpoint, messages))
                else:
                    ours.append(await client_ttft(client, endpoint, messages))
                    raw.append(await raw_ttft(client, endpoint, messages))
    diffs = [a - b for a, b in zip(ours, raw, strict=True)]
    return {
        "requests_per_side": n,
        "server": "serving.fakes.FakeServer on loopback (uvicorn, same process)",
        "client_ttft_ms": {"p50": percentile(ours, 50) * 1000, "p99": percentile(ours, 99) * 1000},
        "raw_httpx_ttft_ms": {"p50": percentile(raw, 50) * 1000, "p99": percentile(raw, 99) * 1000},
        "paired_difference_ms": {
            "p50": percentile(diffs, 50) * 1000,
            "p99": percentile(diffs, 99) * 1000,
        },
    }


async def measure_concurrent(ctx: Context) -> dict[str, Any]:
    tokens = 64 if ctx.quick else 128
    async with make_http_client() as client:
        started = time.monotonic()
        streams = [e for e in ctx.endpoints().values() for _ in range(2)]  # two battles
        dones = await asyncio.gather(*(one_stream(client, e, tokens) for e in streams))
        elapsed = time.monotonic() - started
    total = sum(d.stats.output_tokens for d in dones)
    return {
        "battles": 2,
        "streams": len(dones),
        "max_tokens": tokens,
        "output_tokens": total,
        "seconds": elapsed,
        "aggregate_tokens_per_s": total / elapsed,
        "per_stream_tokens_per_s": [round(d.stats.tokens_per_s or 0, 2) for d in dones],
    }


def run_sync(fn: Callable[[Context], Any]) -> Callable[[Context], Any]:
    return lambda ctx: asyncio.run(fn(ctx))


MEASUREMENTS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "client_overhead_fake": run_sync(measure_client_overhead_fake),
    "ready": measure_ready,
    "rss": measure_rss,
    "decode": run_sync(measure_decode),
    "client_overhead": run_sync(measure_client_overhead),
    "concurrent": run_sync(measure_concurrent),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=Path, default=ROOT / "fleets" / "cpu-demo.toml")
    parser.add_argument("--out", type=Path, default=RESULTS / "serving.json")
    parser.add_argument("--quick", action="store_true", help="fewer and shorter runs")
    parser.add_argument("--only", nargs="*", choices=list(MEASUREMENTS))
    args = parser.parse_args()
    fleet = load_fleet(args.fleet)
    prepare.prepare_runtime()
    prepare.prepare_models(fleet)
    ctx = Context(fleet, cache_dir() / "run" / "bench", args.quick)
    report: dict[str, Any] = {
        "benchmark": "serving",
        "fleet": str(args.fleet.relative_to(ROOT)) if args.fleet.is_relative_to(ROOT) else "",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": args.quick,
    }
    try:
        for name, measure in MEASUREMENTS.items():
            if args.only and name not in args.only:
                if name == "ready":
                    up(ctx)  # the later measurements need the servers
                continue
            load = os.getloadavg()[0]
            started = time.monotonic()
            result = measure(ctx)
            result["load_average_1m_before"] = load
            result["bench_seconds"] = round(time.monotonic() - started, 1)
            ctx.results[name] = result
            print(f"== {name}\n{json.dumps(result, indent=2)}", flush=True)
    finally:
        fleet_down(ctx.run_dir, log=lambda _: None)
    report["results"] = ctx.results
    write_results(args.out, report)
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
