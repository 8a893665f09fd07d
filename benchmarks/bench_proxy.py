"""What the battle proxy adds to time-to-first-token -> benchmarks/results/proxy.json.

    .venv/bin/python -m benchmarks.bench_proxy [--rounds 200] [--vllm] [--setups processes,threads]

The arena runs under a real uvicorn on loopback (SQLite in a temporary directory) in front of
two fake OpenAI-compatible servers that answer at once. Each round, alternating the order,
measures the time from sending the request to the first content delta:

* ``direct``: a streamed chat completion straight to one fake server;
* ``proxy``: `POST /api/v1/battles/{id}/messages` on a fresh battle, first `delta` event.

The proxy's cost is the p50 of the paired differences (and their p99). Two setups:

* ``processes`` (the figure): the arena (uvicorn, one worker) and each fake server in a
  process of its own, as in production, the client here;
* ``threads`` (the earlier setup): arena, fakes and client as threads of this one process,
  so every hop also waits for the others' share of one GIL.

With `--vllm`, the same comparison runs against the real CPU demo fleet (it must be running,
e.g. under `make demo` or `arena fleet up --config fleets/cpu-demo.toml`), where the model's
own noise dominates. Seeded; prints and saves JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from arena.models.service import OperatorModel
from arena.settings import Settings
from benchmarks.common import (
    RESULTS,
    ROOT,
    arena_server,
    describe,
    loadavg,
    migrated,
    percentile,
    register_models,
    write_results,
)
from serving.fakes import FakeModel, FakeServer
from serving.threaded import free_port

PROMPTS = ["Name three colours.", "What is 7 times 8?", "Say hello in French."]
ANSWER = " ".join(f"word{i}" for i in range(32))
SETTINGS: dict[str, Any] = {
    "rate_limit_battles": "1000000/minute",
    "rate_limit_votes": "1000000/minute",
    "health_interval_seconds": 3600,
    "recompute_seconds": 3600,
    "max_tokens": 32,
}


async def direct_ttft(client: httpx.AsyncClient, base: str, model: str, prompt: str) -> float:
    body = {
        "model": model,
        "stream": True,
        "max_tokens": 32,
        "messages": [{"role": "user", "content": prompt}],
    }
    started = time.perf_counter()
    async with client.stream("POST", base + "/v1/chat/completions", json=body) as r:
        async for line in r.aiter_lines():
            if (
                line.startswith("data: {")
                and '"content":"' in line.replace(" ", "")
                and ('"content":""' not in line.replace(" ", ""))
            ):
                return time.perf_counter() - started
    raise RuntimeError("no content")


async def proxy_ttft(client: httpx.AsyncClient, prompt: str) -> float:
    created = await client.post("/api/v1/battles", json={})
    battle_id = created.json()["battle_id"]
    started = time.perf_counter()
    ttft = None
    async with client.stream(
        "POST", f"/api/v1/battles/{battle_id}/messages", json={"content": prompt}
    ) as r:
        async for line in r.aiter_lines():
            if ttft is None and line.startswith("data: ") and '"delta"' in line:
                ttft = time.perf_counter() - started
    if ttft is None:
        raise RuntimeError("no delta")
    return ttft


async def compare(
    arena_url: str, backends: list[tuple[str, str]], rounds: int, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    direct: list[float] = []
    proxy: list[float] = []
    paired: list[float] = []
    headers = {"Origin": arena_url}
    load_before = loadavg()
    async with (
        httpx.AsyncClient(timeout=120) as raw,
        httpx.AsyncClient(base_url=arena_url, headers=headers, timeout=120) as api,
    ):
        for k in range(rounds + 5):
            prompt = rng.choice(PROMPTS)
            base, model = backends[k % len(backends)]
            if k % 2:
                d = await direct_ttft(raw, base, model, prompt)
                p = await proxy_ttft(api, prompt)
            else:
                p = await proxy_ttft(api, prompt)
                d = await direct_ttft(raw, base, model, prompt)
            if k < 5:
                continue  # warm-up: first connections, first imports
            direct.append(d)
            proxy.append(p)
            paired.append(p - d)
    return {
        "direct_ms": describe(direct, scale=1000),
        "proxy_ms": describe(proxy, scale=1000),
        "added_p50_ms": round(statistics.median(paired) * 1000, 3),
        "added_p99_ms": round(percentile(paired, 99) * 1000, 3),
        "load_avg_before": load_before,
        "load_avg_after": loadavg(),
    }


def setup_db(tmp: Path, backends: list[tuple[str, str, str]]) -> str:
    url = migrated(f"sqlite:///{tmp / 'bench.db'}")
    register_models(
        url, (OperatorModel(name=n, base_url=base, api_model=m) for n, base, m in backends)
    )
    return url


@contextlib.contextmanager
def fake_process(name: str) -> Iterator[str]:
    """`python -m serving.fakes` in a process of its own; its base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "serving.fakes", "--served-model-name", name, "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"fake server {name} did not start")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_processes(rounds: int, seed: int) -> dict[str, Any]:
    from benchmarks.battles.load import App

    with (
        fake_process("fake-a") as a,
        fake_process("fake-b") as b,
        tempfile.TemporaryDirectory() as tmp,
    ):
        url = setup_db(Path(tmp), [("Fake A", a, "fake-a"), ("Fake B", b, "fake-b")])
        env = {"ARENA_HEALTH_INTERVAL_SECONDS": "3600", "ARENA_MAX_TOKENS": "32"}
        app = App(url, free_port(), "uvicorn", 3600, 1, env)
        try:
            return asyncio.run(compare(app.base, [(a, "fake-a"), (b, "fake-b")], rounds, seed))
        finally:
            app.stop()


def run_threads(rounds: int, seed: int) -> dict[str, Any]:
    with (
        FakeServer(FakeModel(served_name="fake-a", answer=ANSWER)) as a,
        FakeServer(FakeModel(served_name="fake-b", answer=ANSWER)) as b,
        tempfile.TemporaryDirectory() as tmp,
    ):
        url = setup_db(
            Path(tmp), [("Fake A", a.base_url, "fake-a"), ("Fake B", b.base_url, "fake-b")]
        )
        with arena_server(Settings(database_url=url, **SETTINGS)) as arena:
            backends = [(a.base_url, "fake-a"), (b.base_url, "fake-b")]
            return asyncio.run(compare(arena.url, backends, rounds, seed))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--setups", default="processes,threads")
    parser.add_argument("--vllm", action="store_true", help="also against the running demo fleet")
    parser.add_argument("--out", type=Path, default=RESULTS / "proxy.json")
    args = parser.parse_args()
    results: dict[str, Any] = {"load_before": loadavg(), "rounds": args.rounds}
    setups = args.setups.split(",")
    if "processes" in setups:
        results["fake_backends"] = run_processes(args.rounds, args.seed)
    if "threads" in setups:
        results["fake_backends_one_process"] = run_threads(args.rounds, args.seed)
    if args.vllm:
        from serving.fleet import load_fleet

        fleet = load_fleet(ROOT / "fleets/cpu-demo.toml")
        with tempfile.TemporaryDirectory() as tmp:
            entries = [(e.name, e.base_url, e.served_name) for e in fleet.models]
            url = setup_db(Path(tmp), entries)
            with arena_server(Settings(database_url=url, **SETTINGS)) as arena:
                backends = [(e.base_url, e.served_name) for e in fleet.models]
                results["vllm_backends"] = asyncio.run(
                    compare(arena.url, backends, max(10, args.rounds // 10), args.seed)
                )
    results["load_after"] = loadavg()
    print(write_results(args.out, results))


if __name__ == "__main__":
    main()
