"""Process groups of model servers: start in a new session, stop by PID, never by name.

A vLLM server is several processes (API server, EngineCore, Worker, resource tracker). It
is started with ``start_new_session=True`` (``setsid``), so its PID is also its process
group id. Stopping sends SIGTERM to that PID (vLLM then stops its children itself) and
SIGKILLs the group only if something is still alive after a timeout: a lone SIGKILL of the
API server would orphan the engine. A recorded start time guards against PID reuse.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ")".
    return raw[raw.rindex(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """Kernel start time of ``pid`` (clock ticks since boot), or None if it is gone."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_alive(pid: int, started: int | None = None) -> bool:
    """True if ``pid`` runs (not a zombie) and, if given, started at ``started``."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] == "Z":
        return False
    return started is None or int(fields[19]) == started


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


# Our own children, kept referenced so Popen never warns "still running" when collected,
# and reaped (poll) when stopped.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Started:
    pid: int
    start_time: int | None
    popen: subprocess.Popen[bytes]


def spawn(argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> Started:
    """Start ``argv`` in its own session, stdout+stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _CHILDREN[popen.pid] = popen
    return Started(pid=popen.pid, start_time=start_time(popen.pid), popen=popen)


def _reap(pid: int, wait: float = 0.0) -> None:
    # Our own child stays a zombie until waited for; someone else's is reaped by its parent.
    popen = _CHILDREN.get(pid)
    if popen is None:
        return
    try:
        popen.wait(timeout=wait) if wait else popen.poll()
    except subprocess.TimeoutExpired:
        return
    if popen.returncode is not None:
        del _CHILDREN[pid]


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        _reap(pid)
        if not group_members(pid):
            _reap(pid, wait=5.0)  # the leader is dead or a zombie by now
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def stop_group(pid: int, started: int | None = None, timeout: float = 30.0) -> str:
    """Stop the server whose session leader is ``pid``.

    Returns ``"gone"`` (nothing to stop), ``"terminated"`` (SIGTERM sufficed) or
    ``"killed"`` (the group was SIGKILLed after ``timeout`` seconds).
    """
    if is_alive(pid, started):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    elif started is not None and start_time(pid) not in (None, started):
        # The PID belongs to an unrelated process now. The kernel does not reuse a PID that
        # is still some group's id, so our group is gone too: leave it alone.
        return "gone"
    elif group_members(pid):
        # The leader is gone but its children are not (it was SIGKILLed): stop them.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    else:
        _reap(pid)
        return "gone"
    if _wait_gone(pid, timeout):
        return "terminated"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    _wait_gone(pid, 10.0)
    return "killed"
