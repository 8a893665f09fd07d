"""The sha256 of a vote set's jsonl download, computed by generating that download.

The digest is taken over exactly the bytes `GET /api/v1/snapshots/{id}/votes?format=jsonl`
serves, so `sha256sum` on a downloaded file checks it. Rows are ordered by vote id, so two
vote sets that agree on every id below some ``d`` share the bytes of those rows. `Digests`
keeps, for the latest vote set, a copy of the hash state after each batch (a checkpoint:
the state after all rows up to some vote id) and continues the last checkpoint below the
first id where the new set differs: new votes appended cost only their own rows, an
exclusion of a recent vote the rows after it. Anything else — other columns, a fresh
process — is a full pass. A category board's download is the vote set's rows holding that
tag, so its bytes, and its digest, are its own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from arena.categories import split_tags
from arena.exports.columns import Columns
from arena.exports.encode import jsonl_row_lines
from arena.exports.snapshot_votes import counted_batches

NEVER = 1 << 62
# Each continued pass adds one; thinned beyond this so a long-running process stays small.
MAX_CHECKPOINTS = 256


Board = str | None  # a board's category filter: None for every counted vote


@dataclass
class _State:
    runs: list[list[int]]
    columns: Columns
    # per board: (last vote id hashed, hash state after it), ascending; (0, empty) first
    checkpoints: dict[Board, list[tuple[int, Any]]] = field(default_factory=dict)


def first_difference(old: list[list[int]], new: list[list[int]]) -> int:
    """The smallest vote id in one set of runs and not the other (`NEVER` if equal)."""
    for a, b in zip(old, new, strict=False):
        if a != b:
            return min(a[0], b[0]) if a[0] != b[0] else min(a[1], b[1]) + 1
    if len(old) == len(new):
        return NEVER
    return (new if len(new) > len(old) else old)[min(len(old), len(new))][0]


def _thin(checkpoints: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    if len(checkpoints) <= MAX_CHECKPOINTS:
        return checkpoints
    # every other one, keeping the first and the last: resuming costs a little more
    return checkpoints[:-1:2] + checkpoints[-1:]


class Digests:
    """jsonl digests of vote sets, continuing the previous one's hash where it can.

    Every board of a recompute hashes its own download (the vote set, filtered by the
    board's category) in one pass over the rows: each line is encoded once and fed to the
    hash of every board whose filter it passes, each board resuming from its own checkpoint.
    """

    def __init__(self) -> None:
        self._last: _State | None = None
        # How the latest pass went ("full": from the first vote, or "continued") and how many
        # rows it read from the database.
        self.last_pass = ""
        self.last_rows = 0

    def _resume(
        self, runs: list[list[int]], columns: Columns, boards: list[Board]
    ) -> dict[Board, list[tuple[int, Any]]]:
        last = self._last
        fresh = {b: [(0, hashlib.sha256())] for b in boards}
        if last is None or last.columns != columns:
            return fresh
        d = first_difference(last.runs, runs)
        out = {}
        for b in boards:
            kept = [(vid, h) for vid, h in last.checkpoints.get(b, []) if vid < d]
            out[b] = kept or fresh[b]
        return out

    def jsonl_sha256s(
        self, session: Session, runs: list[list[int]], columns: Columns, boards: list[Board]
    ) -> dict[Board, str]:
        """The hex sha256 of each board's jsonl download."""
        checkpoints = self._resume(runs, columns, boards)
        above = {b: cps[-1][0] for b, cps in checkpoints.items()}
        hashers = {b: cps[-1][1].copy() for b, cps in checkpoints.items()}
        start = min(above.values(), default=0)
        self.last_pass = "full" if start == 0 else "continued"
        self.last_rows = 0
        tags: dict[str, frozenset[str]] = {}
        wanted = [b for b in boards if b is not None]
        for rows in counted_batches(session, runs, above=start):
            self.last_rows += len(rows)
            lines = jsonl_row_lines(rows, columns)
            picked: dict[Board, list[bytes]] = {b: [] for b in boards}
            for row, line in zip(rows, lines, strict=True):
                vid = row["vote_id"]
                if None in picked and vid > above[None]:
                    picked[None].append(line)
                if wanted:
                    text = row["categories"]
                    held = tags.get(text)
                    if held is None:
                        held = tags[text] = frozenset(split_tags(text))
                    for tag in held:
                        if tag in picked and vid > above[tag]:
                            picked[tag].append(line)
            last_id = int(rows[-1]["vote_id"])
            for b, chosen in picked.items():
                if last_id <= above[b]:
                    continue
                hashers[b].update(b"".join(chosen))
                checkpoints[b].append((last_id, hashers[b].copy()))
        self._last = _State(
            [list(r) for r in runs], columns, {b: _thin(cps) for b, cps in checkpoints.items()}
        )
        return {b: str(h.hexdigest()) for b, h in hashers.items()}

    def jsonl_sha256(self, session: Session, runs: list[list[int]], columns: Columns) -> str:
        return self.jsonl_sha256s(session, runs, columns, [None])[None]


def jsonl_sha256(
    session: Session, runs: list[list[int]], columns: Columns, category: str | None = None
) -> str:
    """A full pass, with no state kept: the digest of one board's download."""
    return Digests().jsonl_sha256s(session, runs, columns, [category])[category]
