"""The prepared-artifact cache: where runtimes and converted models live, and its locks.

Everything lives under ``ARENA_CACHE_DIR`` (default ``~/.cache/arena``), outside the
checkout, so ``make demo``, ``make test`` and fresh CI clones reuse one copy. An entry is
complete only when its marker file exists; the marker is written last, so an install that
died half-way is detected and redone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

MARKER = ".arena-complete.json"


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    raw = env.get("ARENA_CACHE_DIR")
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "arena"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock (``flock``); released when the process dies, so never stale."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def read_marker(directory: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_marker(directory: Path, data: Mapping[str, Any]) -> None:
    tmp = directory / (MARKER + ".tmp")
    tmp.write_text(json.dumps(dict(data), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, directory / MARKER)
