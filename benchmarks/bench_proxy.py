"""What the battle proxy adds to time-to-first-token -> benchmarks/results/proxy.json.

    .venv/bin/python -m benchmarks.bench_proxy [--rounds 200] [--vllm]

The arena runs under a real uvicorn on loopback (SQLite in a temporary directory) in front of
two fake OpenAI-compatible servers that answer at once. Each round, alternating the order,
measures the time from sending the request to the first content delta:

* ``direct``: a streamed chat completion straight to one fake server;
* ``proxy``: `POST /api/v1/battles/{id}/messages` on a fresh battle, first `delta` event.

The proxy's cost is the difference of the p50s (and the p50 of the paired differences). With
`--vllm`, the same comparison runs against the real CPU demo fleet (it must be running, e.g.
under `make demo`), where the model's own noise dominates. Seeded; prints and saves JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
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
    migrated,
    percentile,
    register_models,
    write_results,
)
from serving.fakes import FakeModel, FakeServer

PROMPTS = ["Name three colours.", "What is 7 times 8?", "Say hello in French."]


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
    async with (
        httpx.AsyncClient(timeout=120) as raw,
        httpx.AsyncClient(base_url=arena_url, headers=headers, timeout=120) as api,
    ):
        for k in range(rounds):
            prompt = rng.choice(PROMPTS)
            base, model = backends[k % len(backends)]
            if k % 2:
                d = await direct_ttft(raw, base, model, prompt)
                p = await proxy_ttft(api, prompt)
            else:
                p = await proxy_ttft(api, prompt)
                d = await direct_ttft(raw, base, model, prompt)
            direct.append(d)
            proxy.append(p)
            paired.append(p - d)
    return {
        "direct_ms": describe(direct, scale=1000),
        "proxy_ms": describe(proxy, scale=1000),
        "added_p50_ms": round(statistics.median(paired) * 1000, 3),
        "added_p99_ms": round(percentile(paired, 99) * 1000, 3),
    }


def setup(tmp: Path, backends: list[tuple[str, str, str]]) -> Settings:
    url = migrated(f"sqlite:///{tmp / 'bench.db'}")
    register_models(
        url, (OperatorModel(name=n, base_url=base, api_model=m) for n, base, m in backends)
    )
    return Settings(
        database_url=url,
        rate_limit_battles="1000000/minute",
        rate_limit_votes="1000000/minute",
        health_interval_seconds=3600,
        recompute_seconds=3600,
        max_tokens=32,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--vllm", action="store_true", help="also against the running demo fleet")
    parser.add_argument("--out", type=Path, default=RESULTS / "proxy.json")
    args = parser.parse_args()
    results: dict[str, Any] = {"load_before": os.getloadavg(), "rounds": args.rounds}
    answer = " ".join(f"word{i}" for i in range(32))
    with (
        FakeServer(FakeModel(served_name="fake-a", answer=answer)) as a,
        FakeServer(FakeModel(served_name="fake-b", answer=answer)) as b,
        tempfile.TemporaryDirectory() as tmp,
    ):
        settings = setup(
            Path(tmp), [("Fake A", a.base_url, "fake-a"), ("Fake B", b.base_url, "fake-b")]
        )
        with arena_server(settings) as arena:
            url = arena.url
            backends = [(a.base_url, "fake-a"), (b.base_url, "fake-b")]
            results["fake_backends"] = asyncio.run(compare(url, backends, args.rounds, args.seed))
    if args.vllm:
        from serving.fleet import load_fleet

        fleet = load_fleet(ROOT / "fleets/cpu-demo.toml")
        with tempfile.TemporaryDirectory() as tmp:
            entries = [(e.name, e.base_url, e.served_name) for e in fleet.models]
            settings = setup(Path(tmp), entries)
            with arena_server(settings) as arena:
                url = arena.url
                backends = [(e.base_url, e.served_name) for e in fleet.models]
                results["vllm_backends"] = asyncio.run(
                    compare(url, backends, max(10, args.rounds // 10), args.seed)
                )
    results["load_after"] = os.getloadavg()
    print(write_results(args.out, results))


if __name__ == "__main__":
    main()
