"""Whole battles as voters go through them: create, ask (read the SSE stream to its end),
vote; concurrent voters in a load generator process of its own, bounded in count and time.

``python -m benchmarks.battles.journeys PLAN OUT`` runs one phase from a plan file.
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks.battles.load import App, CpuMeter
from benchmarks.common import ROOT, describe, loadavg

QUESTIONS = (
    "Name three colours.",
    "What is 7 times 8?",
    "Write a haiku about the sea.",
    "How do I reverse a list in Python?",
    "Say hello in French.",
    "What is the capital of Japan?",
)


async def _journeys(plan: dict[str, Any]) -> dict[str, Any]:
    voters: list[tuple[str, str]] = [tuple(v) for v in plan["voters"]]  # (cookie, address)
    battles = int(plan["battles"])
    deadline = time.monotonic() + float(plan["deadline_s"])
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    steps: dict[str, list[float]] = {k: [] for k in ("create", "ttft", "turn", "vote", "battle")}
    errors: Counter[str] = Counter()
    samples: list[str] = []
    started = iter(range(battles))
    finished_at: list[float] = []

    def fail(kind: str, detail: str) -> None:
        errors[kind] += 1
        if len(samples) < 5:
            samples.append(f"{kind}: {detail[:300]}")

    async def voter(k: int) -> None:
        cookie, address = voters[k % len(voters)]
        transport = httpx.AsyncHTTPTransport(local_address=address, limits=limits, verify=False)
        headers = {"Cookie": f"arena_client={cookie}", "Content-Type": "application/json"}
        async with httpx.AsyncClient(
            base_url=plan["base"], transport=transport, headers=headers, timeout=plan["timeout_s"]
        ) as client:
            for i in started:
                if time.monotonic() > deadline:
                    return
                try:
                    await one(client, i)
                except httpx.HTTPError as exc:
                    fail(type(exc).__name__, str(exc))

    async def one(client: httpx.AsyncClient, i: int) -> None:
        t0 = time.monotonic()
        r = await client.post("/api/v1/battles", content=b"{}")
        t1 = time.monotonic()
        if r.status_code != 201:
            return fail(f"create {r.status_code}", r.text)
        battle_id = r.json()["battle_id"]
        body = orjson.dumps({"content": f"{QUESTIONS[i % len(QUESTIONS)]} (#{i})"})
        first = None
        done = False
        async with client.stream(
            "POST", f"/api/v1/battles/{battle_id}/messages", content=body
        ) as stream:
            if stream.status_code != 200:
                return fail(f"message {stream.status_code}", (await stream.aread()).decode())
            async for line in stream.aiter_lines():
                if first is None and line.startswith("data: ") and '"delta"' in line:
                    first = time.monotonic()
                if '"error"' in line:
                    return fail("side error", line)
                if line == "data: [DONE]":
                    done = True
        t2 = time.monotonic()
        if not done:
            return fail("stream cut", battle_id)
        winner = ("A", "B", "tie", "bothbad")[i % 4]
        r = await client.post(
            f"/api/v1/battles/{battle_id}/vote", content=orjson.dumps({"winner": winner})
        )
        t3 = time.monotonic()
        if r.status_code != 200:
            return fail(f"vote {r.status_code}", r.text)
        steps["create"].append(t1 - t0)
        steps["ttft"].append((first or t2) - t1)
        steps["turn"].append(t2 - t1)
        steps["vote"].append(t3 - t2)
        steps["battle"].append(t3 - t0)
        finished_at.append(t3)

    t0, cpu0 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(voter(k) for k in range(int(plan["concurrency"]))))
    t1, cpu1 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    return {
        "battles_done": len(steps["battle"]),
        "wall_s": t1 - t0,
        "seconds": steps,
        "errors": dict(errors),
        "sample_errors": samples,
        "loadgen_cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
    }


def journeys_main(plan_path: str, out_path: str) -> None:
    plan = orjson.loads(Path(plan_path).read_bytes())
    try:
        import uvloop

        result = uvloop.run(_journeys(plan))
    except ImportError:
        result = asyncio.run(_journeys(plan))
    Path(out_path).write_bytes(orjson.dumps(result))


def run_journeys(
    app: App, plan: dict[str, Any], meter: CpuMeter, py_spy: str | None = None
) -> dict[str, Any]:
    """One phase of whole battles in the load generator's own process; its summary."""
    from benchmarks.battles.profile import PySpy, summarize

    with tempfile.TemporaryDirectory() as tmp:
        plan_path, out_path = Path(tmp) / "plan.json", Path(tmp) / "out.json"
        plan_path.write_bytes(orjson.dumps({"base": app.base, **plan}))
        spy = PySpy(py_spy, app.pid, Path(tmp) / "spy.txt") if py_spy else None
        if spy:
            spy.__enter__()
        before, load_before = meter.snapshot(), loadavg()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", __spec__.name, str(plan_path), str(out_path)],
                cwd=ROOT,
                timeout=float(plan["deadline_s"]) + float(plan["timeout_s"]) + 60,
                check=False,
            )
            after = meter.snapshot()
        finally:
            if spy:
                spy.__exit__()
        if proc.returncode != 0:
            raise RuntimeError(f"load generator failed ({proc.returncode}); app log:\n{app.tail()}")
        raw = orjson.loads(out_path.read_bytes())
        profile = summarize(spy.out) if spy else None
    n = raw["battles_done"]
    cpu = CpuMeter.delta(before, after)
    per = max(n, 1)
    out = {
        "concurrency": plan["concurrency"],
        "battles_started_max": plan["battles"],
        "battles_done": n,
        "battles_per_s": round(n / raw["wall_s"], 2) if raw["wall_s"] else None,
        "votes_per_s": round(n / raw["wall_s"], 2) if raw["wall_s"] else None,
        "requests_per_battle": 3,
        "latency_ms": {k: describe(v, scale=1000) for k, v in raw["seconds"].items()},
        "errors": raw["errors"],
        "sample_errors": raw["sample_errors"],
        "cpu": cpu,
        "loadgen_cpu_s": round(raw["loadgen_cpu_s"], 2),
        "cpu_ms_per_battle": {
            "app": round(1000 * cpu["app_cpu_s"] / per, 2),
            "postgres": round(1000 * cpu["postgres_cpu_s"] / per, 2),
            "loadgen": round(1000 * raw["loadgen_cpu_s"] / per, 2),
        },
        "load_avg_before": load_before,
        "load_avg_after": loadavg(),
    }
    if profile is not None:
        out["profile"] = profile
    return out


if __name__ == "__main__":
    journeys_main(sys.argv[1], sys.argv[2])
