"""`arena serve` as a separate process, and a TCP relay to Redis that a test can cut."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[2]
SECRET = "replicas-test-secret-key-0123456789"


def arena_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update(
        {
            "ARENA_DATABASE_URL": database_url,
            "ARENA_SECRET_KEY": SECRET,
            "ARENA_MIN_READ_SECONDS": "0",
            "ARENA_RECOMPUTE_SECONDS": "3600",
            "ARENA_HEALTH_INTERVAL_SECONDS": "3600",
            "OPENBLAS_NUM_THREADS": "1",
        }
    )
    env.update(extra)
    return env


def arena_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arena", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]


class ArenaProcess:
    """``arena serve --port PORT [--workers N]`` in a process group of its own, so that
    stopping it reaches every worker it forked."""

    def __init__(self, port: int, env: dict[str, str], workers: int = 1) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        cmd = [sys.executable, "-m", "arena", "serve", "--port", str(port)]
        if workers != 1:
            cmd += ["--workers", str(workers)]
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=self.log, stderr=self.log, start_new_session=True
        )
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"arena serve exited ({self.proc.returncode}):\n{self.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + "/health", timeout=1).status_code == 200:
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"arena serve did not start:\n{self.output()}")
            time.sleep(0.2)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-5000:]

    def terminate(self) -> None:
        """SIGTERM to the serving process only (as a supervisor would send it)."""
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # Workers left behind by a parent that died first are in the same group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()

    def worker_pids(self) -> list[int]:
        """uvicorn's worker processes (multiprocessing spawn children of the server)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat[1]) == self.proc.pid and b"spawn_main" in cmdline:
                found.append(int(entry.name))
        return found


def post(
    client: httpx.Client, server: ArenaProcess, path: str, body: dict[str, Any]
) -> httpx.Response:
    return client.post(server.base + path, json=body)


def parse_sse(raw: str) -> list[Any]:
    events = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        data = [line[6:] for line in block.split("\n") if line.startswith("data: ")]
        if data:
            text = "\n".join(data)
            events.append(text if text == "[DONE]" else orjson.loads(text))
    return events


def finished_sides(events: list[Any]) -> set[str]:
    return {e["side"] for e in events if isinstance(e, dict) and e.get("done")}


class RedisRelay:
    """A loopback TCP relay in front of the real Redis, on an asyncio loop of the caller's:
    `cut()` closes the listener and every open connection (Redis "goes away"), `restore()`
    listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    async def cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()

    async def restore(self) -> None:
        await self.start()
