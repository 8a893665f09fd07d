"""What the fault tests share: processes of their own (fake backends, a private PostgreSQL
cluster, a private Redis), each stopped by its own PID or process group; a ledger of what
the client was answered; and the checks every fault ends with.

The checks: every vote answered 200 is in the database exactly once, no vote answered with
an error is, and a recompute after the fault counts exactly the stored votes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import select

from arena.db import make_engine, make_sessionmaker, session_scope
from arena.models.service import OperatorModel, add_operator_model
from arena.votes.tables import Vote
from serving.threaded import free_port

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 60.0  # seconds any one wait in these tests may take before it fails


def wait_until(condition: Any, what: str, timeout: float = DEADLINE) -> None:
    """Poll `condition()` until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL the process group `proc` leads (started with start_new_session) and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def answers_http(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


# --- a fake model server in a process of its own ---------------------------------------------


class BackendProcess:
    """`tests.faults.backend` on a fixed loopback port: kill it, stop it, start it again."""

    def __init__(self, served: str, answer: str, tokens_per_second: float | None = None) -> None:
        self.served = served
        self.answer = answer
        self.tokens_per_second = tokens_per_second
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.chunks = 0  # SSE chunks sent, over every process started here
        self._seen = threading.Condition()
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> BackendProcess:
        cmd = [sys.executable, "-m", "tests.faults.backend", "--port", str(self.port)]
        cmd += ["--served-model-name", self.served, "--answer", self.answer]
        if self.tokens_per_second:
            cmd += ["--tokens-per-second", str(self.tokens_per_second)]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        wait_until(lambda: answers_http(self.base_url + "/health"), "the fake backend to start")
        return self

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("chunk "):
                with self._seen:
                    self.chunks += 1
                    self._seen.notify_all()

    def wait_chunks(self, count: int) -> None:
        with self._seen:
            ok = self._seen.wait_for(lambda: self.chunks >= count, timeout=DEADLINE)
        assert ok, f"the backend sent {self.chunks} chunks, expected {count}"

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGCONT)  # a stopped process dies at once too
            kill_group(self.proc)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None


@contextlib.contextmanager
def backend_process(
    served: str, answer: str, tokens_per_second: float | None = None
) -> Iterator[BackendProcess]:
    backend = BackendProcess(served, answer, tokens_per_second).start()
    try:
        yield backend
    finally:
        backend.kill()


def register_models(database_url: str, models: list[tuple[str, str, str]]) -> None:
    """Operator models (name, base URL, served name), approved and healthy."""
    engine = make_engine(database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            for name, base_url, served in models:
                spec = OperatorModel(name=name, base_url=base_url + "/v1", api_model=served)
                add_operator_model(session, spec).healthy = True
    finally:
        engine.dispose()


# --- a private PostgreSQL cluster -------------------------------------------------------------


def postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


class PrivatePostgres:
    """A cluster of its own in a temporary folder, on a free loopback port, trust auth.

    initdb refuses to run as root, so as root the cluster belongs to the `postgres` user.
    The machine's shared PostgreSQL is never touched: this one is stopped by its own
    postmaster PID."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="arena-faults-pg-"))
        self.data = self.root / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-N")

    def _run(self, tool: str, *args: str) -> None:
        proc = subprocess.run(
            [*self._as, str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.root,
        )
        assert proc.returncode == 0, f"{tool} failed: {proc.stdout}\n{proc.stderr}"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def postmaster_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.data / "postmaster.pid").read_text().split()[0])
        return None

    def close(self) -> None:
        pid = self.postmaster_pid()
        if pid is not None:
            with contextlib.suppress(AssertionError):
                self.stop("immediate")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


# --- a private Redis ----------------------------------------------------------------------------


class PrivateRedis:
    """`redis-server` on a free loopback port, nothing saved: killing it loses every count."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="arena-faults-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        cmd += ["--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        wait_until(self.answers, "redis-server to start")

    def answers(self) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stored_keys(self) -> list[bytes]:
        import redis

        client = redis.Redis(port=self.port)
        try:
            return list(client.keys("*"))
        finally:
            client.close()

    def kill(self) -> None:
        if self.proc is not None:
            kill_group(self.proc)
            self.proc = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- what the client was told, and what the database holds ----------------------------------


@dataclass
class Ledger:
    """Every vote attempt by battle: answered 200 (with its vote id), refused with an error
    status, or never answered (the connection died)."""

    answered: dict[str, int] = field(default_factory=dict)
    refused: dict[str, list[int]] = field(default_factory=dict)
    unanswered: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, battle: str, response: httpx.Response | None) -> None:
        with self.lock:
            if response is None:
                self.unanswered.add(battle)
            elif response.status_code == 200:
                assert battle not in self.answered, f"battle {battle} answered 200 twice"
                self.answered[battle] = int(response.json()["vote_id"])
                self.unanswered.discard(battle)
            else:
                assert_envelope(response)
                self.refused.setdefault(battle, []).append(response.status_code)

    def statuses(self) -> set[int]:
        return {s for codes in self.refused.values() for s in codes} | (
            {200} if self.answered else set()
        )


def assert_envelope(response: httpx.Response) -> None:
    """An error answer: a fitting status, and the one envelope with non-empty strings."""
    assert response.status_code != 500, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "code"}, error
    assert all(isinstance(error[k], str) and error[k] for k in error), error


def stored_votes(database_url: str) -> dict[int, str]:
    """vote id → battle id, as the database holds them."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Vote.id, Vote.battle_id)).all()
    finally:
        engine.dispose()
    return {int(r[0]): str(r[1]) for r in rows}


def assert_ledger(database_url: str, ledger: Ledger) -> dict[int, str]:
    """Every 200 is stored once under its battle; nothing else is stored."""
    stored = stored_votes(database_url)
    battles = list(stored.values())
    assert len(battles) == len(set(battles)), "a battle has two votes"
    assert stored == {vote_id: battle for battle, vote_id in ledger.answered.items()}, (
        stored,
        ledger,
    )
    return stored


def counted_ids(board: httpx.Response, download: httpx.Response) -> set[int]:
    """The vote ids a board's snapshot counted, from its votes download (jsonl)."""
    assert board.status_code == 200, board.text
    assert download.status_code == 200, download.text
    lines = [line for line in download.text.splitlines() if line.strip()]
    ids = [int(orjson.loads(line)["vote_id"]) for line in lines]
    assert len(ids) == len(set(ids)), "a vote counted twice"
    assert board.json()["votes_included"] == len(ids)
    return set(ids)


def snapshot_vote_ids(client: httpx.Client, base: str = "") -> set[int]:
    """The vote ids the headline board's latest snapshot counted."""
    board = client.get(base + "/api/v1/leaderboard")
    snapshot = board.json()["snapshot_id"]
    assert snapshot is not None, board.json()
    download = client.get(f"{base}/api/v1/snapshots/{snapshot}/votes", params={"format": "jsonl"})
    return counted_ids(board, download)


async def snapshot_vote_ids_async(client: httpx.AsyncClient) -> set[int]:
    board = await client.get("/api/v1/leaderboard")
    snapshot = board.json()["snapshot_id"]
    assert snapshot is not None, board.json()
    download = await client.get(f"/api/v1/snapshots/{snapshot}/votes", params={"format": "jsonl"})
    return counted_ids(board, download)


# --- a voter over real HTTP ------------------------------------------------------------------


def sse_events(raw: str) -> list[Any]:
    events: list[Any] = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        data = [line[6:] for line in block.split("\n") if line.startswith("data: ")]
        if data:
            text = "\n".join(data)
            events.append(text if text == "[DONE]" else orjson.loads(text))
    return events


def ready_battle(
    client: httpx.Client, base: str, content: str = "Which is larger, 9 or 11?"
) -> str:
    """A new battle whose one turn both sides answered: ready for its vote."""
    created = client.post(base + "/api/v1/battles", json={})
    assert created.status_code == 201, created.text
    battle = str(created.json()["battle_id"])
    turn = client.post(f"{base}/api/v1/battles/{battle}/messages", json={"content": content})
    assert turn.status_code == 200, turn.text
    events = sse_events(turn.text)
    done = {e["side"] for e in events if isinstance(e, dict) and e.get("done")}
    assert events[-1] == "[DONE]" and done == {"A", "B"}, events
    return battle


def vote(client: httpx.Client, base: str, battle: str, winner: str = "A") -> httpx.Response:
    return client.post(f"{base}/api/v1/battles/{battle}/vote", json={"winner": winner})
