"""The sha256 of a vote set's jsonl download, computed by generating that download.

The digest is taken over exactly the bytes `GET /api/v1/snapshots/{id}/votes?format=jsonl`
serves, so `sha256sum` on a downloaded file checks it. Rows are ordered by vote id, so when
a new vote set is the previous one plus ids above its maximum, its bytes are the previous
bytes plus the new rows: `Digests` keeps the previous hash state in the process and
continues a copy of it, and falls back to a full pass in every other case (an exclusion or
a late commit below the old maximum, other columns, a fresh process).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from arena.exports.columns import Columns
from arena.exports.encode import jsonl_lines
from arena.exports.snapshot_votes import counted_batches


@dataclass
class _State:
    runs: list[list[int]]
    columns: Columns
    hasher: Any
    top: int


def _extends(runs: list[list[int]], old: list[list[int]], top: int) -> bool:
    """Is ``runs`` cut at ``top`` exactly ``old``?"""
    clipped = []
    for lo, hi in runs:
        if lo > top:
            break
        clipped.append([lo, min(hi, top)])
    return clipped == old


class Digests:
    """jsonl digests of vote sets, continuing the previous one's hash when it can."""

    def __init__(self) -> None:
        self._last: _State | None = None
        # "full" or "appended": how the latest digest was computed, and over how many rows
        self.last_pass = ""
        self.last_rows = 0

    def jsonl_sha256(self, session: Session, runs: list[list[int]], columns: Columns) -> str:
        last = self._last
        if last is not None and last.columns == columns and _extends(runs, last.runs, last.top):
            hasher, above, self.last_pass = last.hasher.copy(), last.top, "appended"
        else:
            hasher, above, self.last_pass = hashlib.sha256(), 0, "full"
        self.last_rows = 0
        for rows in counted_batches(session, runs, above=above):
            hasher.update(jsonl_lines(rows, columns))
            self.last_rows += len(rows)
        top = runs[-1][1] if runs else 0
        self._last = _State([list(r) for r in runs], columns, hasher.copy(), top)
        return str(hasher.hexdigest())


def jsonl_sha256(session: Session, runs: list[list[int]], columns: Columns) -> str:
    """A full pass, with no state kept."""
    return Digests().jsonl_sha256(session, runs, columns)
