"""Battle/vote path benchmark on PostgreSQL -> benchmarks/results/battles.json.

    .venv/bin/python benchmarks/bench_battles.py [--quick] [--no-sqlite] [--big-votes N]

Everything runs on loopback against fresh databases that the script creates and drops
(``arena_bench_<tag>_<random>`` on ``--pg``, default postgresql+psycopg://postgres@127.0.0.1:5432).
Fixed seeds; three processes take part in the HTTP phases:

* this orchestrator: creates the database, migrates it, runs two fake OpenAI-compatible
  backends (``serving.fakes.FakeServer``, threads) and registers the models against them;
* the app: ``create_app(Settings())`` under uvicorn in a subprocess on a free loopback port
  (``--server arena`` runs the real ``arena serve`` command instead, access log included),
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
import asyncio
import contextlib
import json
import os
import platform
import resource
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent


def rel(path: Path) -> str:
    """A path as recorded in results: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from arena.crypto import keyed_hash  # noqa: E402
from arena.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from arena.leaderboard import service as board  # noqa: E402
from arena.leaderboard.tables import LeaderboardSnapshot, SnapshotRow  # noqa: E402
from arena.migrate import upgrade  # noqa: E402
from arena.models.service import OperatorModel, add_operator_model  # noqa: E402
from arena.votes.tables import Vote  # noqa: E402
from serving.fakes import FakeModel, FakeServer, free_port  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "battles.json"
SECRET = "arena-bench-secret-key-0123456789abcdef"
COOKIE_SALT = "arena-client"
SEED = 20240601
NETWORKS = 256
PROMPT = "Name three colours."
ANSWER = "Red, green and blue are three colours; the sky is often blue."
WINNERS = ("A", "B", "tie", "bothbad")
LMSYS = {"A": "model_a", "B": "model_b", "tie": "tie", "bothbad": "tie (bothbad)"}


# ------------------------------------------------------------------------------------------
# small helpers


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def r3(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def network_address(n: int) -> str:
    """Source address of network `n` (each its own /24 inside 127.0.0.0/8)."""
    return f"127.{1 + n // 256}.{n % 256}.1"


def pg_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def fresh_postgres(base: str, tag: str) -> Iterator[str]:
    """A new database on the server of `base`, dropped afterwards whatever happens."""
    import psycopg

    name = f"arena_bench_{tag}_{secrets.token_hex(4)}"
    admin = pg_conninfo(str(make_url(base).set(database="postgres")))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield str(make_url(base).set(database=name).render_as_string(hide_password=False))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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

    def snapshot(self) -> dict[str, Any]:
        busy, total = self._machine()
        return {
            "app": self._proc(self.app_pid) if self.app_pid else 0.0,
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


# ------------------------------------------------------------------------------------------
# the app under uvicorn (subprocess)


def serve_main(port: int) -> None:
    import uvicorn

    from arena.app import create_app
    from arena.settings import Settings

    settings = Settings()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        proxy_headers=False,
        server_header=False,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        # longer than uvicorn's 5 s default so that none of the load generator's 256 pools
        # has a kept-alive connection closed under it between two phases (ReadError noise)
        timeout_keep_alive=75,
    )
    uvicorn.Server(config).run()


class App:
    def __init__(self, url: str, port: int, mode: str, recompute_seconds: float) -> None:
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
        }
        if mode == "arena":
            cmd = [str(Path(sys.executable).parent / "arena"), "serve", "--port", str(port)]
        else:
            cmd = [sys.executable, __file__, "_serve", str(port)]
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited: {self.tail()}")
            try:
                if httpx.get(self.base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
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


# ------------------------------------------------------------------------------------------
# the load generator (subprocess)


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
                r = await client.post(
                    f"/api/v1/battles/{arg[0]}/vote", content=body, headers=headers
                )
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


def run_load(app: App, plan: dict[str, Any], meter: CpuMeter) -> dict[str, Any]:
    """Run one load phase in its own process; summary of throughput, latency and CPU."""
    with tempfile.TemporaryDirectory() as tmp:
        plan_path, out_path = Path(tmp) / "plan.json", Path(tmp) / "out.json"
        plan_path.write_bytes(orjson.dumps({"base": app.base, **plan}))
        before, load_before = meter.snapshot(), loadavg()
        proc = subprocess.run(
            [sys.executable, __file__, "_load", str(plan_path), str(out_path)],
            cwd=ROOT,
            timeout=float(plan["deadline_s"]) + 120,
            check=False,
        )
        after = meter.snapshot()
        if proc.returncode != 0:
            raise RuntimeError(f"load generator failed ({proc.returncode}); app log:\n{app.tail()}")
        raw = orjson.loads(out_path.read_bytes())
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
        "latency_ms": {
            "p50": r3(percentile(lat, 50)),
            "p90": r3(percentile(lat, 90)),
            "p99": r3(percentile(lat, 99)),
            "max": r3(max(lat) if lat else None),
        },
        "concurrency": plan["concurrency"],
        "rate": plan.get("rate"),
        "loadgen_cpu_s": round(raw["loadgen_cpu_s"], 2),
        "cpu": CpuMeter.delta(before, after),
        "load_avg_before": load_before,
        "load_avg_after": loadavg(),
        "window": [raw["started_at"], raw["ended_at"]],
    }
    if raw["errors"]:
        summary["sample_errors"] = raw["errors"]
    summary["_produced"] = {int(k): v for k, v in raw["produced"].items()}
    return summary


# ------------------------------------------------------------------------------------------
# database seeding


class Voters:
    """Simulated voters: a signed cookie each, spread over NETWORKS /24 networks."""

    def __init__(self, count: int) -> None:
        from itsdangerous import URLSafeSerializer

        signer = URLSafeSerializer(SECRET, salt=COOKIE_SALT)
        key = SecretStr(SECRET)
        self.ids = [f"bench-voter-{i:06d}" for i in range(count)]
        self.cookies = [signer.dumps(cid) for cid in self.ids]
        self.addresses = [network_address(i % NETWORKS) for i in range(count)]
        self.client_hash = [keyed_hash(key, "client", cid) for cid in self.ids]
        self.ip_hash = [keyed_hash(key, "ip", a) for a in self.addresses]
        self.net_hash = [
            keyed_hash(key, "net", a.rsplit(".", 1)[0] + ".0/24") for a in self.addresses
        ]

    def __len__(self) -> int:
        return len(self.ids)


def register_models(url: str, base_urls: list[str], count: int) -> list[int]:
    """`count` operator models Zeta-NN (approved, healthy), spread over the fake backends."""
    engine = make_engine(url)
    try:
        factory = make_sessionmaker(engine)
        ids = []
        with session_scope(factory) as session:
            for k in range(count):
                m = add_operator_model(
                    session,
                    OperatorModel(
                        name=f"Zeta-{k:02d}",
                        base_url=base_urls[k % len(base_urls)] + "/v1",
                        api_model="fake-model",
                        organization=f"Org{k:02d}",
                    ),
                )
                m.healthy = True
                session.flush()
                ids.append(m.id)
        return ids
    finally:
        engine.dispose()


def truth_ratings(model_ids: list[int], seed: int) -> dict[int, float]:
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0, 120.0, len(model_ids))
    return {mid: float(1000.0 + x - r.mean()) for mid, x in zip(model_ids, r, strict=True)}


def draw_winners(
    rng: np.random.Generator, ra: np.ndarray, rb: np.ndarray
) -> np.ndarray:  # codes into WINNERS
    p = 1.0 / (1.0 + 10.0 ** ((rb - ra) / 400.0))
    u = rng.random(len(ra))
    tie = u < 0.10
    bothbad = (u >= 0.10) & (u < 0.13)
    a_wins = rng.random(len(ra)) < p
    return np.where(tie, 2, np.where(bothbad, 3, np.where(a_wins, 0, 1)))


def ts(dt: datetime) -> str:
    return dt.isoformat()


def copy_rows(conn: Any, table: str, columns: list[str], lines: Iterator[str]) -> None:
    """COPY text rows (already tab-separated) into `table`, in 1 MB chunks."""
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        buf: list[str] = []
        size = 0
        for line in lines:
            buf.append(line)
            size += len(line)
            if size > 1 << 20:
                cp.write("".join(buf))
                buf, size = [], 0
        if buf:
            cp.write("".join(buf))


BATTLE_COLS = [
    "id",
    "model_a_id",
    "model_b_id",
    "system_message",
    "client_hash",
    "ip_hash",
    "network_hash",
    "created_at",
    "last_finished_at",
    "voted_at",
]
DRAW_COLS = ["battle_id", "model_a_id", "model_b_id", "probability", "pool_size", "created_at"]
VOTE_COLS = [
    "id",
    "battle_id",
    "winner",
    "model_a_id",
    "model_b_id",
    "turns",
    "client_hash",
    "ip_hash",
    "network_hash",
    "read_seconds",
    "included",
    "a_tokens",
    "b_tokens",
    "a_chars",
    "b_chars",
    "a_headers",
    "b_headers",
    "a_lists",
    "b_lists",
    "a_bold",
    "b_bold",
    "created_at",
]


def seed_battles_pg(
    url: str,
    voters: Voters,
    pairs: np.ndarray,
    owners: np.ndarray,
    prefix: str,
    *,
    finished: bool,
    now: datetime,
) -> list[str]:
    """Battles (+ sampling draws) as create_battle writes them; `finished`: with a done turn
    and two done answers, ready to vote on (as close_turn leaves them)."""
    import psycopg

    from arena.settings import NEUTRAL_SYSTEM_MESSAGE

    n = len(pairs)
    ids = [f"{prefix}{i:0{32 - len(prefix)}x}" for i in range(n)]
    stamp = ts(now)
    fin = stamp if finished else "\\N"
    pool = len(np.unique(pairs)) if n else 0
    with psycopg.connect(pg_conninfo(url)) as conn:
        copy_rows(
            conn,
            "battles",
            BATTLE_COLS,
            (
                f"{ids[i]}\t{pairs[i, 0]}\t{pairs[i, 1]}\t{NEUTRAL_SYSTEM_MESSAGE}\t"
                f"{voters.client_hash[owners[i]]}\t{voters.ip_hash[owners[i]]}\t"
                f"{voters.net_hash[owners[i]]}\t{stamp}\t{fin}\t\\N\n"
                for i in range(n)
            ),
        )
        copy_rows(
            conn,
            "sampling_draws",
            DRAW_COLS,
            (f"{ids[i]}\t{pairs[i, 0]}\t{pairs[i, 1]}\t0.001\t{pool}\t{stamp}\n" for i in range(n)),
        )
        if finished:
            finish_turns_pg(conn, ids, now)
        conn.commit()
    return ids


def finish_turns_pg(conn: Any, battle_ids: list[str], now: datetime) -> None:
    """One done turn with two done answers for each battle (what close_turn leaves)."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO battle_turns (battle_id, idx, content, status, attempts, created_at,"
            " finished_at) SELECT b, 0, %s, 'done', 1, %s, %s FROM unnest(%s::text[]) AS b",
            (PROMPT, now, now, battle_ids),
        )
        cur.execute(
            "INSERT INTO battle_responses (turn_id, side, role, content, status, finish_reason,"
            " prompt_tokens, completion_tokens, ttft_ms, duration_ms, started_at, finished_at)"
            " SELECT t.id, s.side, 'assistant', %s, 'done', 'stop', 20, 12, 1.0, 2.0, %s, %s"
            " FROM battle_turns t CROSS JOIN (VALUES ('A'), ('B')) AS s(side)"
            " WHERE t.battle_id = ANY(%s)",
            (ANSWER, now, now, battle_ids),
        )
        cur.execute(
            "UPDATE battles SET last_finished_at = %s WHERE id = ANY(%s)", (now, battle_ids)
        )


def seed_votes_1m(url: str, voters: Voters, model_ids: list[int], n: int, seed: int) -> dict:
    """`n` voted battles and their votes (2% excluded with a `too_fast` ledger row)."""
    import psycopg

    rng = np.random.default_rng(seed)
    truth = truth_ratings(model_ids, seed)
    ids_arr = np.array(model_ids)
    m = len(model_ids)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    pairs = np.stack([ids_arr[a], ids_arr[b]], axis=1)
    tr = np.array([truth[i] for i in model_ids])
    winners = draw_winners(rng, tr[a], tr[b])
    owners = rng.integers(0, len(voters), n)
    excluded = rng.random(n) < 0.02
    base = datetime(2024, 1, 1, tzinfo=UTC)
    t0 = time.perf_counter()
    ids = seed_battles_pg(url, voters, pairs, owners, "b1", finished=False, now=base)
    t_battles = time.perf_counter() - t0
    stamp = ts(base + timedelta(minutes=5))
    t0 = time.perf_counter()
    with psycopg.connect(pg_conninfo(url)) as conn:
        copy_rows(
            conn,
            "votes",
            VOTE_COLS,
            (
                f"{i + 1}\t{ids[i]}\t{WINNERS[winners[i]]}\t{pairs[i, 0]}\t{pairs[i, 1]}\t1\t"
                f"{voters.client_hash[owners[i]]}\t{voters.ip_hash[owners[i]]}\t"
                f"{voters.net_hash[owners[i]]}\t30.0\t{'f' if excluded[i] else 't'}\t"
                f"12\t12\t60\t60\t0\t0\t0\t0\t0\t0\t{stamp}\n"
                for i in range(n)
            ),
        )
        excl_ids = (np.nonzero(excluded)[0] + 1).tolist()
        copy_rows(
            conn,
            "vote_exclusions",
            ["vote_id", "reason", "detail", "created_at"],
            (f"{v}\ttoo_fast\tsynthetic\t{stamp}\n" for v in excl_ids),
        )
        conn.execute(f"SELECT setval('votes_id_seq', {n})")
        conn.execute("UPDATE battles SET voted_at = %s", (base + timedelta(minutes=5),))
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return {
        "votes": n,
        "excluded": len(excl_ids),
        "models": m,
        "load_battles_s": round(t_battles, 1),
        "load_votes_s": round(time.perf_counter() - t0, 1),
        "truth": {f"Zeta-{k:02d}": truth[mid] for k, mid in enumerate(model_ids)},
    }


# ------------------------------------------------------------------------------------------
# recompute timing


def time_recompute(url: str, repeat: int) -> dict[str, Any]:
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    gathers, fits, totals = [], [], []
    inputs = None
    try:
        for _ in range(repeat):
            session = factory()
            try:
                t0 = time.perf_counter()
                snap = board.recompute(session, None)
                totals.append(time.perf_counter() - t0)
                assert snap is not None
                session.rollback()
                params = board.default_params(None)
                t0 = time.perf_counter()
                inputs = board.gather(session, params)
                gathers.append(time.perf_counter() - t0)
                session.rollback()
                t0 = time.perf_counter()
                result = board.fit(inputs)
                fits.append(time.perf_counter() - t0)
            finally:
                session.close()
        explain = None
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                plan = conn.execute(
                    text(
                        "EXPLAIN (ANALYZE, BUFFERS) SELECT model_a_id, model_b_id, winner,"
                        " count(*) FROM votes WHERE included AND id <= :w"
                        " GROUP BY model_a_id, model_b_id, winner"
                    ),
                    {"w": inputs.watermark if inputs else 0},
                ).all()
                explain = [row[0] for row in plan]
        assert inputs is not None
        rows = result.rows()
        return {
            "recompute_s": {
                "median": r3(statistics.median(totals)),
                "runs": [r3(t) for t in totals],
            },
            "gather_sql_s": {
                "median": r3(statistics.median(gathers)),
                "runs": [r3(t) for t in gathers],
            },
            "fit_s": {"median": r3(statistics.median(fits)), "runs": [r3(t) for t in fits]},
            "votes_included": inputs.votes_included,
            "votes_excluded": inputs.excluded,
            "cells": len(inputs.cells),
            "models_on_board": len(rows),
            "explain_aggregation": explain,
            "_ratings": {str(r["model"]): float(r["rating"]) for r in rows},  # type: ignore[arg-type]
        }
    finally:
        engine.dispose()


def sqlite_recompute(voters: Voters, n: int, models: int, seed: int, repeat: int) -> dict:
    """The 1M-vote recompute on SQLite (a temp file, WAL), for comparison."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        ids = register_models(url, ["http://127.0.0.1:9"], models)  # never contacted
        rng = np.random.default_rng(seed)
        truth = truth_ratings(ids, seed)
        ids_arr = np.array(ids)
        a = rng.integers(0, models, n)
        b = (a + rng.integers(1, models, n)) % models
        tr = np.array([truth[i] for i in ids])
        winners = draw_winners(rng, tr[a], tr[b])
        owners = rng.integers(0, len(voters), n)
        excluded = rng.random(n) < 0.02
        stamp = "2024-01-01 00:05:00.000000"
        t0 = time.perf_counter()
        con = sqlite3.connect(f"{tmp}/bench.db")
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
        bids = [f"b1{i:030x}" for i in range(n)]
        con.executemany(
            f"INSERT INTO battles ({', '.join(BATTLE_COLS)}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                (
                    bids[i],
                    int(ids_arr[a[i]]),
                    int(ids_arr[b[i]]),
                    "sys",
                    voters.client_hash[owners[i]],
                    voters.ip_hash[owners[i]],
                    voters.net_hash[owners[i]],
                    stamp,
                    stamp,
                    stamp,
                )
                for i in range(n)
            ),
        )
        con.executemany(
            f"INSERT INTO votes ({', '.join(VOTE_COLS)}) VALUES ({', '.join('?' * len(VOTE_COLS))})",
            (
                (
                    i + 1,
                    bids[i],
                    WINNERS[winners[i]],
                    int(ids_arr[a[i]]),
                    int(ids_arr[b[i]]),
                    1,
                    voters.client_hash[owners[i]],
                    voters.ip_hash[owners[i]],
                    voters.net_hash[owners[i]],
                    30.0,
                    0 if excluded[i] else 1,
                    *([12, 12, 60, 60] + [0] * 6),
                    stamp,
                )
                for i in range(n)
            ),
        )
        con.executemany(
            "INSERT INTO vote_exclusions (vote_id, reason, detail, created_at)"
            " VALUES (?, 'too_fast', 'synthetic', ?)",
            ((int(v) + 1, stamp) for v in np.nonzero(excluded)[0]),
        )
        con.commit()
        con.execute("ANALYZE")
        con.close()
        load_s = time.perf_counter() - t0
        out = time_recompute(url, repeat)
        out["load_s"] = round(load_s, 1)
        out.pop("_ratings")
        return out


# ------------------------------------------------------------------------------------------
# orchestration


def phase_battles(
    app: App, voters: Voters, meter: CpuMeter, count: int, seconds: float, concurrency: int
) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    owners = [i % len(voters) for i in range(count)]
    tasks = [[v, voters.addresses[v], None] for v in owners]
    plan = {
        "kind": "battles",
        "tasks": tasks,
        "cookies": voters.cookies,
        "concurrency": concurrency,
        "deadline_s": seconds,
    }
    res = run_load(app, plan, meter)
    produced = res.pop("_produced")
    return res, [(bid, owners[i]) for i, bid in sorted(produced.items())]


def phase_votes(
    app: App,
    voters: Voters,
    meter: CpuMeter,
    battles: list[tuple[str, int, str]],
    seconds: float,
    concurrency: int,
    rate: float | None,
    url: str,
) -> dict[str, Any]:
    tasks = [[v, voters.addresses[v], [bid, w]] for bid, v, w in battles]
    plan = {
        "kind": "votes",
        "tasks": tasks,
        "cookies": voters.cookies,
        "concurrency": concurrency,
        "deadline_s": seconds,
        "rate": rate,
    }
    res = run_load(app, plan, meter)
    res.pop("_produced")
    start, end = res.pop("window")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            lo = datetime.fromtimestamp(start, UTC)
            hi = datetime.fromtimestamp(end, UTC)
            n = conn.scalar(
                select(func.count())
                .select_from(LeaderboardSnapshot)
                .where(LeaderboardSnapshot.computed_at.between(lo, hi))
            )
            last = conn.execute(
                select(LeaderboardSnapshot.votes_included, LeaderboardSnapshot.votes_excluded)
                .order_by(LeaderboardSnapshot.id.desc())
                .limit(1)
            ).first()
            excluded = conn.scalar(
                select(func.count()).select_from(Vote).where(Vote.included.is_(False))
            )
    finally:
        engine.dispose()
    res["snapshots_written_during_phase"] = n
    res["latest_snapshot"] = (
        {"votes_included": last[0], "votes_excluded": last[1]} if last else None
    )
    res["votes_excluded_in_db"] = excluded
    return res


def prepare_votable(
    url: str,
    app: App,
    voters: Voters,
    meter: CpuMeter,
    model_ids: list[int],
    api_battles: list[tuple[str, int]],
    needed: int,
    api_turns: int,
    turn_seconds: float,
    rng: np.random.Generator,
    prefix: str,
) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    """Battles with a finished turn: `api_turns` through the API, the rest seeded in the DB."""
    import psycopg

    info: dict[str, Any] = {}
    through_api = api_battles[:api_turns]
    if through_api:
        tasks = [[v, voters.addresses[v], [bid]] for bid, v in through_api]
        plan = {
            "kind": "turns",
            "tasks": tasks,
            "cookies": voters.cookies,
            "concurrency": 16,
            "deadline_s": turn_seconds,
        }
        res = run_load(app, plan, meter)
        res.pop("_produced")
        res.pop("window")
        info["turns_api"] = res
    now = datetime.now(UTC) - timedelta(seconds=5)
    with psycopg.connect(pg_conninfo(url)) as conn:
        done = {
            r[0]
            for r in conn.execute(
                "SELECT b.id FROM battles b WHERE b.voted_at IS NULL AND b.last_finished_at"
                " IS NOT NULL"
            )
        }
        rest = [bid for bid, _ in api_battles if bid not in done]
        finish_turns_pg(conn, rest, now)
        conn.commit()
    ready = list(api_battles)
    extra = max(0, needed - len(ready))
    info["battles_from_api"] = len(api_battles)
    info["turns_from_api_done"] = len(done)
    info["turns_seeded_in_db"] = len(rest)
    info["battles_seeded_in_db"] = extra
    if extra:
        m = len(model_ids)
        ids_arr = np.array(model_ids)
        a = rng.integers(0, m, extra)
        b = (a + rng.integers(1, m, extra)) % m
        pairs = np.stack([ids_arr[a], ids_arr[b]], axis=1)
        owners = rng.integers(0, len(voters), extra)
        ids = seed_battles_pg(url, voters, pairs, owners, prefix, finished=True, now=now)
        ready += list(zip(ids, owners.tolist(), strict=True))
    return info, ready


def with_winners(
    url: str, battles: list[tuple[str, int]], truth: dict[int, float], rng: np.random.Generator
) -> list[tuple[str, int, str]]:
    import psycopg

    with psycopg.connect(pg_conninfo(url)) as conn:
        pairs = dict(
            (r[0], (r[1], r[2]))
            for r in conn.execute("SELECT id, model_a_id, model_b_id FROM battles")
        )
    ra = np.array([truth[pairs[bid][0]] for bid, _ in battles])
    rb = np.array([truth[pairs[bid][1]] for bid, _ in battles])
    codes = draw_winners(rng, ra, rb)
    out = [(bid, v, WINNERS[c]) for (bid, v), c in zip(battles, codes, strict=True)]
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def latest_ratings(url: str) -> dict[str, float]:
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            snap = board.latest(session)
            if snap is None:
                return {}
            rows = session.scalars(select(SnapshotRow).where(SnapshotRow.snapshot_id == snap.id))
            return {r.model: r.rating for r in rows}
    finally:
        engine.dispose()


def rank_agreement(ratings: dict[str, float], truth: dict[str, float]) -> float | None:
    names = [n for n in ratings if n in truth]
    if len(names) < 3:
        return None
    x = np.argsort(np.argsort([ratings[n] for n in names]))
    y = np.argsort(np.argsort([truth[n] for n in names]))
    return round(float(np.corrcoef(x, y)[0, 1]), 4)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--server", choices=["uvicorn", "arena"], default="uvicorn")
    parser.add_argument("--port", type=int, default=0, help="app port (default: a free one)")
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
    parser.add_argument("--out", type=Path, default=RESULTS)
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
            "server": "create_app(Settings()) under uvicorn, 1 process, access log off,"
            " keep-alive 75 s"
            if args.server == "uvicorn"
            else "`arena serve` (uvicorn, access log on)",
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
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()
            model_ids = register_models(url, [s.base_url for s in servers], args.models)
            truth = truth_ratings(model_ids, SEED)
            app = App(url, args.port or free_port(), args.server, 1.0)
            meter = CpuMeter(app.pid)
            try:
                print("battles via the API…", flush=True)
                res, created = phase_battles(app, voters, meter, args.battles, 30.0, 16)
                res.pop("window")
                meas["battles_api"] = res
                paced_cap = int((args.vote_rate or 1000.0) * args.paced_seconds)
                needed = args.votes + paced_cap
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
        print(f"recompute with {args.big} votes…", flush=True)
        with fresh_postgres(args.pg, "1m") as url:
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()
            big_models = register_models(url, [s.base_url for s in servers], 50)
            seeded = seed_votes_1m(url, voters, big_models, args.big, SEED + 1)
            truth_big = seeded.pop("truth")
            rec = time_recompute(url, args.repeat)
            rec["rank_corr_vs_truth"] = rank_agreement(rec.pop("_ratings"), truth_big)
            rec["seeding"] = seeded
            rec["load_avg"] = loadavg()
            meas["recompute_1m"] = rec
            print("battles via the API with the big ledger…", flush=True)
            app = App(url, args.port or free_port(), args.server, 1.0)
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
        if not args.no_sqlite:
            print("recompute on SQLite…", flush=True)
            meas["recompute_1m_sqlite"] = sqlite_recompute(
                voters, args.big, 50, SEED + 1, max(2, args.repeat // 2)
            )
    finally:
        for s in servers:
            s.stop()
    out["machine"]["load_avg_at_end"] = loadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print_summary(out)
    print(f"\nwrote {args.out}")


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
                f"{r['per_s']}/s ok={r['ok']}/{r['requests']} p50={lat['p50']} ms "
                f"p99={lat['p99']} ms  app={cpu['app_cpu_s']}s pg={cpu['postgres_cpu_s']}s "
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


def entry() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        serve_main(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_load":
        load_main(sys.argv[2], sys.argv[3])
    else:
        main()


if __name__ == "__main__":
    entry()
