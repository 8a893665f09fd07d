"""The app and the load generator, each in a process of its own, and a CPU meter.

``python -m benchmarks.battles.load _serve PORT`` runs the app; ``… _load PLAN OUT`` runs one
load phase from a plan file and writes its raw result.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks.battles import PROMPT, SECRET
from benchmarks.common import ROOT, describe, loadavg


class CpuMeter:
    """CPU seconds of the app, of PostgreSQL's processes and of the machine over a phase."""

    def __init__(self, app_pid: int | None) -> None:
        self.app_pid = app_pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def _proc(self, pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / self.tick

    def _postgres(self) -> dict[int, float]:
        """CPU seconds of each live PostgreSQL process (backends and parallel workers)."""
        out = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    out[int(entry.name)] = self._proc(int(entry.name))
            except OSError:
                continue
        return out

    def _machine(self) -> tuple[float, float]:
        parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = parts[3] + parts[4]
        return (sum(parts) - idle) / self.tick, sum(parts) / self.tick

    def _tree(self, pid: int) -> float:
        """CPU seconds of a process and its live descendants (``--workers``: the workers)."""
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                parents[int(entry.name)] = int(stat[1])
        tree, grew = {pid}, True
        while grew:
            more = {child for child, parent in parents.items() if parent in tree} - tree
            tree |= more
            grew = bool(more)
        return sum(self._proc(p) for p in tree)

    def snapshot(self) -> dict[str, Any]:
        busy, total = self._machine()
        return {
            "app": self._tree(self.app_pid) if self.app_pid else 0.0,
            "postgres": self._postgres(),
            "busy": busy,
            "total": total,
            "wall": time.monotonic(),
        }

    @staticmethod
    def delta(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
        wall = b["wall"] - a["wall"]
        # per process; processes that exited during the phase are missed (a lower bound)
        pg = sum(cpu - a["postgres"].get(pid, 0.0) for pid, cpu in b["postgres"].items())
        return {
            "wall_s": round(wall, 2),
            "app_cpu_s": round(b["app"] - a["app"], 2),
            "postgres_cpu_s": round(pg, 2),
            "machine_busy_cores": round((b["busy"] - a["busy"]) / wall, 2) if wall else 0.0,
        }


BARE_FACTORY = "benchmarks.battles.bare:app_from_env"


def serve_main(port: int, workers: int = 1, kind: str = "arena") -> None:
    """The arena (``kind`` "arena") or the bare INSERT endpoint ("bare") under uvicorn."""
    import uvicorn

    from arena.server import FACTORY

    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "proxy_headers": False,
        "server_header": False,
        # info, not warning: App counts the workers' "startup complete" lines (no access log)
        "log_level": "info",
        "access_log": False,
        "timeout_graceful_shutdown": 5,
        # longer than uvicorn's 5 s default so that none of the load generator's 256 pools
        # has a kept-alive connection closed under it between two phases (ReadError noise)
        "timeout_keep_alive": 75,
    }
    factory = BARE_FACTORY if kind == "bare" else FACTORY
    # One process: the app in this one (as before); N: uvicorn's workers, each its own app.
    uvicorn.run(factory, factory=True, workers=workers if workers > 1 else None, **options)


class App:
    def __init__(
        self,
        url: str,
        port: int,
        mode: str,
        recompute_seconds: float,
        workers: int = 1,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "ARENA_DATABASE_URL": url,
            "ARENA_SECRET_KEY": SECRET,
            "ARENA_RATE_LIMIT_VOTES": "1000000/minute",
            "ARENA_RATE_LIMIT_BATTLES": "1000000/minute",
            "ARENA_MIN_READ_SECONDS": "0",
            "ARENA_RECOMPUTE_SECONDS": str(recompute_seconds),
            "ARENA_HOST": "127.0.0.1",
            "ARENA_PORT": str(port),
            "OPENBLAS_NUM_THREADS": "1",
            **(extra_env or {}),
        }
        if mode == "arena":
            cmd = [str(Path(sys.executable).parent / "arena"), "serve", "--port", str(port)]
            cmd += ["--workers", str(workers)]
        else:
            kind = "bare" if mode == "bare" else "arena"
            cmd = [sys.executable, "-m", __spec__.name, "_serve", str(port), str(workers), kind]
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited: {self.tail()}")
            try:
                up = httpx.get(self.base + "/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                up = False
            self.log.seek(0)
            if up and self.log.read().count(b"Application startup complete") >= workers:
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("app did not start")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


async def _load(plan: dict[str, Any]) -> dict[str, Any]:
    kind = plan["kind"]
    tasks: list[list[Any]] = plan["tasks"]
    cookies: list[str] = plan["cookies"]
    concurrency = int(plan["concurrency"])
    rate = plan.get("rate")
    deadline = time.monotonic() + float(plan["deadline_s"])
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    clients: dict[str, httpx.AsyncClient] = {}

    def client_for(address: str) -> httpx.AsyncClient:
        if address not in clients:
            # plain http: verify=False skips loading a CA bundle for each of the 256 clients
            transport = httpx.AsyncHTTPTransport(local_address=address, limits=limits, verify=False)
            clients[address] = httpx.AsyncClient(
                base_url=plan["base"], transport=transport, timeout=60
            )
        return clients[address]

    latencies: list[float] = []
    done_at: list[float] = []
    statuses: Counter[str] = Counter()
    produced: dict[int, str] = {}
    errors: list[str] = []

    async def one(i: int, scheduled: float | None) -> None:
        voter, address, arg = tasks[i]
        headers = {
            "Cookie": f"arena_client={cookies[voter]}",
            "Content-Type": "application/json",
        }
        client = client_for(address)
        start = time.monotonic() if scheduled is None else scheduled
        try:
            if kind == "battles":
                r = await client.post("/api/v1/battles", content=b"{}", headers=headers)
                if r.status_code == 201:
                    produced[i] = r.json()["battle_id"]
            elif kind == "turns":
                body = orjson.dumps({"content": f"{PROMPT} ({i})"})
                r = await client.post(
                    f"/api/v1/battles/{arg[0]}/messages", content=body, headers=headers
                )
                raw = r.text
                if r.status_code == 200 and ("[DONE]" not in raw or '"error"' in raw):
                    statuses["sse_incomplete"] += 1
            else:
                body = orjson.dumps({"winner": arg[1]})
                path = "/bare/{}/vote" if kind == "bare" else "/api/v1/battles/{}/vote"
                r = await client.post(path.format(arg[0]), content=body, headers=headers)
            end = time.monotonic()
            statuses[str(r.status_code)] += 1
            if r.status_code >= 400 and len(errors) < 5:
                errors.append(r.text[:300])
            latencies.append((end - start) * 1000)
            done_at.append(end)
        except httpx.HTTPError as exc:
            statuses[type(exc).__name__] += 1

    t0 = time.monotonic()
    wall0 = time.time()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    if rate is None:
        counter = iter(range(len(tasks)))

        async def worker() -> None:
            for i in counter:
                if time.monotonic() > deadline:
                    return
                await one(i, None)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    else:
        gate = asyncio.Semaphore(concurrency)
        pending: set[asyncio.Task[None]] = set()

        async def paced(i: int, when: float) -> None:
            async with gate:
                await one(i, when)

        for i in range(len(tasks)):
            when = t0 + i / float(rate)
            delay = when - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() > deadline:
                break
            task = asyncio.create_task(paced(i, when))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending, timeout=max(1.0, deadline + 30 - time.monotonic()))
    t1 = time.monotonic()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    for c in clients.values():
        await c.aclose()
    ok = statuses.get({"battles": "201"}.get(kind, "200"), 0)
    per_second = Counter(int(t - t0) for t in done_at)
    seconds = [per_second.get(s, 0) for s in range(int(t1 - t0))]
    return {
        "requests": len(latencies),
        "ok": ok,
        "statuses": dict(statuses),
        "errors": errors,
        "wall_s": t1 - t0,
        "started_at": wall0,
        "ended_at": time.time(),
        "latencies_ms": latencies,
        "per_second": seconds,
        "loadgen_cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
        "produced": {str(k): v for k, v in produced.items()},
    }


def load_main(plan_path: str, out_path: str) -> None:
    plan = orjson.loads(Path(plan_path).read_bytes())
    try:
        import uvloop

        result = uvloop.run(_load(plan))
    except ImportError:
        result = asyncio.run(_load(plan))
    Path(out_path).write_bytes(orjson.dumps(result))


def run_load(
    app: App, plan: dict[str, Any], meter: CpuMeter, py_spy: str | None = None
) -> dict[str, Any]:
    """Run one load phase in its own process; summary of throughput, latency and CPU.
    With `py_spy` (a py-spy binary), the app's processes are sampled meanwhile."""
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
                [sys.executable, "-m", __spec__.name, "_load", str(plan_path), str(out_path)],
                cwd=ROOT,
                timeout=float(plan["deadline_s"]) + 120,
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
    lat = raw["latencies_ms"]
    seconds = raw["per_second"][1:-1] or raw["per_second"]
    summary = {
        "requests": raw["requests"],
        "ok": raw["ok"],
        "statuses": raw["statuses"],
        "per_s": round(raw["ok"] / raw["wall_s"], 1) if raw["wall_s"] else None,
        "per_s_by_second": {
            "min": min(seconds) if seconds else None,
            "median": statistics.median(seconds) if seconds else None,
            "max": max(seconds) if seconds else None,
        },
        "latency_ms": describe(lat),
        "concurrency": plan["concurrency"],
        "rate": plan.get("rate"),
        "loadgen_cpu_s": round(raw["loadgen_cpu_s"], 2),
        "cpu": CpuMeter.delta(before, after),
        "load_avg_before": load_before,
        "load_avg_after": loadavg(),
        "window": [raw["started_at"], raw["ended_at"]],
    }
    ok = raw["ok"] or 1
    cpu = summary["cpu"]
    summary["cpu_ms_per_ok_request"] = {
        "app": round(1000 * cpu["app_cpu_s"] / ok, 3),
        "postgres": round(1000 * cpu["postgres_cpu_s"] / ok, 3),
        "loadgen": round(1000 * raw["loadgen_cpu_s"] / ok, 3),
    }
    if profile is not None:
        summary["profile"] = profile
    if raw["errors"]:
        summary["sample_errors"] = raw["errors"]
    summary["_produced"] = {int(k): v for k, v in raw["produced"].items()}
    return summary


if __name__ == "__main__":
    if sys.argv[1] == "_serve":
        serve_main(
            int(sys.argv[2]),
            int(sys.argv[3]) if len(sys.argv) > 3 else 1,
            sys.argv[4] if len(sys.argv) > 4 else "arena",
        )
    elif sys.argv[1] == "_load":
        load_main(sys.argv[2], sys.argv[3])
