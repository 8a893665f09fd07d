"""Where the app's CPU goes during a phase: py-spy sampling every app process (workers too).

py-spy is not a dependency of the arena: pass ``--py-spy PATH`` to a py-spy binary (e.g. in a
scratch venv: ``python -m venv /tmp/spy && /tmp/spy/bin/pip install py-spy``). Only on-CPU
samples are kept (py-spy leaves idle threads out), so shares are shares of CPU time.
"""

from __future__ import annotations

import re
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

# py-spy's raw format: one line per distinct stack, `process PID:"CMD";frame;frame COUNT`,
# each frame `function (path:line)` with the path relative to its sys.path entry.
_RECORD = re.compile(r'^process \d+:"[^"\n]*"(?:;(?P<stack>.*))? (?P<count>\d+)$', re.M)
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?):\d+\)$")

# Where a frame's file lives (its path's first part), the first match wins.
LAYERS = (
    ("arena (our code)", ("arena/", "ratings/", "serving/")),
    ("sqlalchemy", ("sqlalchemy/",)),
    ("psycopg (driver)", ("psycopg/", "psycopg_pool/")),
    ("uvicorn + httptools/h11", ("uvicorn/", "httptools/", "h11/")),
    ("starlette + fastapi + sse", ("starlette/", "fastapi/", "sse_starlette/")),
    ("pydantic", ("pydantic/", "pydantic_core/")),
    ("anyio (thread hops)", ("anyio/",)),
    ("httpx + httpcore (to model servers)", ("httpx/", "httpcore/")),
    ("limits (rate limits)", ("limits/",)),
    ("numpy", ("numpy/",)),
    ("prometheus_client", ("prometheus_client/",)),
    ("lingua (language detection)", ("lingua/",)),
)


# Innermost frames of threads waiting in C (a lock, the event loop's poll) that py-spy's
# idle detection lets through: counted apart, not as work.
WAITING = {
    "Runner.run",
    "Condition.wait",
    "WorkerThread.run",
    "Event.wait",
    "Thread.join",
    "BaseSelector.select",
    "EpollSelector.select",
    # psycopg waiting for the server's answer (its C poll, the GIL released)
    "Connection.wait",
}

# Our functions whose inclusive share is worth a line of its own.
FUNCTIONS = (
    "cast_vote",
    "check_abuse",
    "client_against_board",
    "network_burst",
    "duplicate_digest",
    "_votable_battle",
    "hit_limits",
    "known_client",
    "identify",
    "recompute_once",
    "plan_turn",
    "write_turn",
    "close_turn",
    "create_battle",
)


class PySpy:
    """``py-spy record`` on `pid` and its children while the block runs."""

    def __init__(self, binary: str, pid: int, out: Path, rate: int = 250) -> None:
        self.cmd = [binary, "record", "--pid", str(pid), "--subprocesses", "--format", "raw"]
        self.cmd += ["--rate", str(rate), "--nonblocking", "-o", str(out)]
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PySpy:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def __exit__(self, *_: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _layer(path: str) -> str:
    for name, marks in LAYERS:
        if path.startswith(marks):
            return name
    # the standard library: a bare file name, or one of its packages
    return (
        "python stdlib (asyncio, threading, ...)"
        if "/" not in path
        or path.startswith(
            ("asyncio/", "concurrent/", "json/", "<frozen", "importlib/", "email/", "http/")
        )
        else "other"
    )


def summarize(raw: Path, top: int = 25) -> dict[str, Any]:
    """Shares of the samples: by layer of the innermost frame (self time), by our functions
    (inclusive), and the hottest innermost functions."""
    if not raw.exists():
        return {"error": "py-spy wrote nothing (not permitted to trace, or no samples)"}
    by_layer: Counter[str] = Counter()
    by_leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = waiting = 0
    for record in _RECORD.finditer(raw.read_text(errors="replace")):
        count = int(record.group("count"))
        frames = [m for f in (record.group("stack") or "").split(";") if (m := _FRAME.match(f))]
        if not frames:
            continue
        leaf = frames[-1]
        if leaf.group("func") in WAITING:
            waiting += count
            continue
        total += count
        by_layer[_layer(leaf.group("file"))] += count
        by_leaf[f"{leaf.group('func')} ({leaf.group('file')})"] += count
        names = {m.group("func").rsplit(".", 1)[-1] for m in frames}
        for fn in FUNCTIONS:
            if fn in names:
                inclusive[fn] += count

    def share(c: Counter[str], n: int | None = None) -> dict[str, float]:
        return {k: round(v / total, 4) for k, v in c.most_common(n)} if total else {}

    return {
        "samples": total,
        "samples_waiting_left_out": waiting,
        "self_share_by_layer": share(by_layer),
        "inclusive_share_by_function": share(inclusive),
        "top_self_functions": share(by_leaf, top),
    }
