"""The sha256 of a vote set's jsonl download, computed by generating that download.

The digest is taken over exactly the bytes `GET /api/v1/snapshots/{id}/votes?format=jsonl`
serves, so `sha256sum` on a downloaded file checks it. Rows are ordered by vote id, so two
vote sets that agree on every id below some ``d`` share the bytes of those rows. `Digests`
keeps, for the latest vote set, a copy of the hash state after each batch (a checkpoint:
the state after all rows up to some vote id) and continues the last checkpoint below the
first id where the new set differs: new votes appended cost only their own rows, an
exclusion of a recent vote the rows after it. Anything else — other columns, a fresh
process — is a full pass.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from arena.exports.columns import Columns
from arena.exports.encode import jsonl_lines
from arena.exports.snapshot_votes import counted_batches

NEVER = 1 << 62
# Each continued pass adds one; thinned beyond this so a long-running process stays small.
MAX_CHECKPOINTS = 256


@dataclass
class _State:
    runs: list[list[int]]
    columns: Columns
    # (last vote id hashed, hash state after it), ascending; (0, empty) first
    checkpoints: list[tuple[int, Any]] = field(default_factory=list)


def first_difference(old: list[list[int]], new: list[list[int]]) -> int:
    """The smallest vote id in one set of runs and not the other (`NEVER` if equal)."""
    for a, b in zip(old, new, strict=False):
        if a != b:
            return min(a[0], b[0]) if a[0] != b[0] else min(a[1], b[1]) + 1
    if len(old) == len(new):
        return NEVER
    return (new if len(new) > len(old) else old)[min(len(old), len(new))][0]


class Digests:
    """jsonl digests of vote sets, continuing the previous one's hash where it can."""

    def __init__(self) -> None:
        self._last: _State | None = None
        # How the latest digest was computed ("full" or "continued") and over how many rows.
        self.last_pass = ""
        self.last_rows = 0

    def _resume(self, runs: list[list[int]], columns: Columns) -> tuple[list[tuple[int, Any]], str]:
        last = self._last
        if last is None or last.columns != columns:
            return [(0, hashlib.sha256())], "full"
        d = first_difference(last.runs, runs)
        kept = [(vid, h) for vid, h in last.checkpoints if vid < d]
        return kept, "full" if len(kept) == 1 else "continued"

    def jsonl_sha256(self, session: Session, runs: list[list[int]], columns: Columns) -> str:
        checkpoints, self.last_pass = self._resume(runs, columns)
        above, state = checkpoints[-1]
        hasher = state.copy()
        self.last_rows = 0
        for rows in counted_batches(session, runs, above=above):
            hasher.update(jsonl_lines(rows, columns))
            self.last_rows += len(rows)
            checkpoints.append((int(rows[-1]["vote_id"]), hasher.copy()))
        if len(checkpoints) > MAX_CHECKPOINTS:
            # every other one, keeping the first and the last: resuming costs a little more
            checkpoints = checkpoints[:-1:2] + checkpoints[-1:]
        self._last = _State([list(r) for r in runs], columns, checkpoints)
        return str(hasher.hexdigest())


def jsonl_sha256(session: Session, runs: list[list[int]], columns: Columns) -> str:
    """A full pass, with no state kept."""
    return Digests().jsonl_sha256(session, runs, columns)
