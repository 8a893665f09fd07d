"""What the battle proxy adds to time-to-first-token -> benchmarks/results/proxy.json.

    .venv/bin/python benchmarks/bench_proxy.py [--rounds 200] [--vllm]

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
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arena.app import create_app  # noqa: E402
from arena.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from arena.migrate import upgrade  # noqa: E402
from arena.models.service import OperatorModel, add_operator_model  # noqa: E402
from arena.settings import Settings  # noqa: E402
from serving.fakes import FakeModel, FakeServer, free_port  # noqa: E402

PROMPTS = ["Name three colours.", "What is 7 times 8?", "Say hello in French."]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values) * 1000, 3),
        "p99_ms": round(pct(values, 0.99) * 1000, 3),
        "mean_ms": round(statistics.fmean(values) * 1000, 3),
    }


class ArenaServer:
    def __init__(self, settings: Settings) -> None:
        self.port = settings.port
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ArenaServer:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


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
        "direct": summary(direct),
        "proxy": summary(proxy),
        "added_p50_ms": round(statistics.median(paired) * 1000, 3),
        "added_p99_ms": round(pct(paired, 0.99) * 1000, 3),
    }


def setup(tmp: Path, backends: list[tuple[str, str, str]]) -> Settings:
    url = f"sqlite:///{tmp / 'bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(make_sessionmaker(engine)) as session:
        for name, base, model in backends:
            m = add_operator_model(
                session, OperatorModel(name=name, base_url=base, api_model=model)
            )
            m.healthy = True
    engine.dispose()
    return Settings(
        database_url=url,
        port=free_port(),
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
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/proxy.json")
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
        with ArenaServer(settings):
            url = f"http://127.0.0.1:{settings.port}"
            backends = [(a.base_url, "fake-a"), (b.base_url, "fake-b")]
            results["fake_backends"] = asyncio.run(compare(url, backends, args.rounds, args.seed))
    if args.vllm:
        from serving.fleet import load_fleet

        fleet = load_fleet(ROOT / "fleets/cpu-demo.toml")
        with tempfile.TemporaryDirectory() as tmp:
            entries = [(e.name, e.base_url, e.served_name) for e in fleet.models]
            settings = setup(Path(tmp), entries)
            with ArenaServer(settings):
                url = f"http://127.0.0.1:{settings.port}"
                backends = [(e.base_url, e.served_name) for e in fleet.models]
                results["vllm_backends"] = asyncio.run(
                    compare(url, backends, max(10, args.rounds // 10), args.seed)
                )
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
