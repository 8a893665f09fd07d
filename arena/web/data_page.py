"""The /data page's view model: every download with its size and columns, the licence, and
per snapshot its votes download and the one command that reproduces it.

Sizes are estimated, never measured by generating a download on a page view (a million
votes take seconds): the newest `SAMPLE` rows of each source are encoded in each format
through the exports' own code, and the size is that format's fixed part (CSV header,
Parquet footer) plus the row count times the sample's bytes per row. The page says
"about". The columns come from `arena.exports.columns`, the definitions the downloads
are written with.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arena.exports.columns import PREFERENCE_COLUMNS, SNAPSHOT_COLUMNS, VOTE_COLUMNS, Columns
from arena.exports.encode import FORMATS, Format, encode
from arena.exports.history import HISTORY_COLUMNS, history_batches
from arena.exports.service import preference_batches, snapshot_batches, vote_batches
from arena.leaderboard.tables import LeaderboardSnapshot, SnapshotRow, SnapshotVoteSet
from arena.votes.tables import Vote

SAMPLE = 200
PAGE = 20
# Newest snapshots whose rows make the snapshots export's sample (each holds one row a model).
SNAPSHOT_SAMPLE = 10
# Below this many rows in half a sample, Parquet's marginal cost per row is noise.
MIN_HALF = 20

Rows = list[dict[str, Any]]
Batches = Callable[[Session, int | None], Iterator[Rows]]


def human_size(n: int) -> str:
    """Bytes in decimal units, two significant figures beyond a kilobyte."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 999.5 or unit == "TB":
            return f"{value:.1f} {unit}" if value < 9.95 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Link:
    format: str
    url: str
    # estimated bytes (see the module docstring)
    size: int

    @property
    def size_text(self) -> str:
        return human_size(self.size)


@dataclass(frozen=True)
class Download:
    kind: str
    title: str
    about: str
    rows: int
    columns: Columns
    links: list[Link]
    # False where the row count is itself an estimate (preference pairs)
    rows_exact: bool = True


@dataclass(frozen=True)
class SnapshotEntry:
    id: int
    computed_at: datetime
    view: str
    category: str | None
    votes: int
    sha256: str
    fit_args: list[str]
    # Empty for snapshots computed before vote sets were recorded: nothing to download.
    links: list[Link]
    command: str
    verify: str


@dataclass(frozen=True)
class Estimate:
    """A format's bytes for ``n`` rows: ``fixed + n * per_row``."""

    fixed: int
    per_row: float

    def size(self, n: int) -> int:
        return max(0, self.fixed + round(n * self.per_row))


def _encoded(rows: Rows, columns: Columns, fmt: Format) -> int:
    return sum(len(chunk) for chunk in encode(iter([rows]), columns, fmt))


def estimates(rows: Rows, columns: Columns) -> dict[str, Estimate]:
    """Each format's size for no rows and its bytes per row, from ``rows``.

    JSONL and CSV grow linearly: the sample's mean row. Parquet compresses better the more
    rows a row group holds (dictionaries, runs), so its mean over a small sample is far too
    high; the cost of the sample's second half is closer, and still an overestimate."""
    out: dict[str, Estimate] = {}
    for fmt in FORMATS:
        empty = _encoded([], columns, fmt)
        if not rows:
            out[fmt] = Estimate(empty, 0.0)
            continue
        whole = _encoded(rows, columns, fmt)
        half = len(rows) // 2
        if fmt == "parquet" and half >= MIN_HALF:
            per_row = (whole - _encoded(rows[:half], columns, fmt)) / (len(rows) - half)
        else:
            per_row = (whole - empty) / len(rows)
        # fixed + len(rows) * per_row == whole: a sample of every row gives the exact size
        out[fmt] = Estimate(whole - round(len(rows) * per_row), per_row)
    return out


def _sample(session: Session, batches: Batches, lo: int | None) -> Rows:
    """The rows from ``lo`` on (a bounded few: ``lo`` is chosen so), read to the end: a
    server-side cursor left half-read would only be closed by the garbage collector."""
    rows = [row for batch in batches(session, lo) for row in batch]
    return rows[-SAMPLE:]


def _newest_from(session: Session, column: Any, k: int) -> int | None:
    """The lowest of the newest ``k`` distinct values of ``column``."""
    newest = select(column).distinct().order_by(column.desc()).limit(k).subquery()
    lowest: int | None = session.scalar(select(func.min(newest.c[0])))
    return lowest


def _links(base: str, estimate: dict[str, Estimate], rows: int) -> list[Link]:
    return [Link(fmt, f"{base}?format={fmt}", estimate[fmt].size(rows)) for fmt in FORMATS]


def _headline_history(session: Session, lo: int | None) -> Iterator[Rows]:
    return history_batches(session, "default", None, lo)


def downloads(session: Session) -> tuple[list[Download], Rows]:
    """The live exports, and the votes sample (snapshot downloads are sized from it)."""
    votes = session.scalar(select(func.count(Vote.id))) or 0
    decisive = session.scalar(select(func.count(Vote.id)).where(Vote.winner.in_(("A", "B"))))
    snapshot_rows = session.scalar(select(func.count()).select_from(SnapshotRow)) or 0
    vote_lo = _newest_from(session, Vote.id, SAMPLE)
    vote_sample = _sample(session, vote_batches, vote_lo)
    pref_sample = _sample(session, preference_batches, vote_lo)
    snap_lo = _newest_from(session, SnapshotRow.snapshot_id, SNAPSHOT_SAMPLE)
    snap_sample = _sample(session, snapshot_batches, snap_lo)
    headline = (LeaderboardSnapshot.view == "default") & LeaderboardSnapshot.category.is_(None)
    history_rows = session.scalar(
        select(func.count())
        .select_from(SnapshotRow)
        .join(LeaderboardSnapshot, LeaderboardSnapshot.id == SnapshotRow.snapshot_id)
        .where(headline)
    )
    history_lo = session.scalar(
        select(func.min(LeaderboardSnapshot.id)).where(
            LeaderboardSnapshot.id.in_(
                select(LeaderboardSnapshot.id)
                .where(headline)
                .order_by(LeaderboardSnapshot.id.desc())
                .limit(SNAPSHOT_SAMPLE)
            )
        )
    )
    history_sample = _sample(session, _headline_history, history_lo)
    pairs, pairs_exact = _pair_count(votes, decisive or 0, vote_sample, pref_sample)
    items = [
        Download(
            "votes",
            "Votes",
            "Every vote, counted or not: the LMSYS columns, whether it counts and why not, "
            "and the style features of both answers. arena ratings fit on it refits the "
            "current board.",
            votes,
            VOTE_COLUMNS,
            _links("/api/v1/exports/votes", estimates(vote_sample, VOTE_COLUMNS), votes),
        ),
        Download(
            "preferences",
            "Preference pairs",
            "Decisive votes (A or B won) as prompt, chosen answer and rejected answer, with "
            "the whole conversation, for preference tuning.",
            pairs,
            PREFERENCE_COLUMNS,
            _links(
                "/api/v1/exports/preferences", estimates(pref_sample, PREFERENCE_COLUMNS), pairs
            ),
            rows_exact=pairs_exact,
        ),
        Download(
            "snapshots",
            "Snapshots",
            "Every published board (every view and category), a row per model and snapshot, "
            "with each snapshot's sha256 and fit_args.",
            snapshot_rows,
            SNAPSHOT_COLUMNS,
            _links(
                "/api/v1/exports/snapshots",
                estimates(snap_sample, SNAPSHOT_COLUMNS),
                snapshot_rows,
            ),
        ),
        Download(
            "history",
            "Rating history",
            "The headline board over time, a row per model and snapshot, with each model's "
            "robustness and serving speed then. Add view=style or category=NAME for another "
            "board's history.",
            history_rows or 0,
            HISTORY_COLUMNS,
            _links(
                "/api/v1/leaderboard/history",
                estimates(history_sample, HISTORY_COLUMNS),
                history_rows or 0,
            ),
        ),
    ]
    return items, vote_sample


def _pair_count(
    votes: int, decisive: int, vote_sample: Rows, pair_sample: Rows
) -> tuple[int, bool]:
    """Preference pairs and whether the number is exact: the sample's own count when it
    holds every vote; else the decisive votes times the sample's share of them that make a
    pair (all, once battles store their turns; counting exactly joins every vote to them)."""
    if len(vote_sample) == votes:
        return len(pair_sample), True
    sampled = sum(1 for v in vote_sample if v["winner"] in ("model_a", "model_b"))
    return (round(decisive * len(pair_sample) / sampled) if sampled else decisive), False


def command(base_url: str, snapshot_id: int, sha256: str, fit_args: list[str]) -> str:
    """Download, check the digest, refit: one line to paste into a shell. Each step runs
    only if the one before succeeded (`curl -f` fails on an HTTP error, `sha256sum -c` on
    a different file)."""
    name = f"snapshot-{snapshot_id}-votes.jsonl"
    url = f"{base_url}/api/v1/snapshots/{snapshot_id}/votes?format=jsonl"
    return " && ".join(
        [
            shlex.join(["curl", "-sf", url, "-o", name]),
            f"echo {shlex.quote(f'{sha256}  {name}')} | sha256sum -c -",
            shlex.join(["arena", "ratings", "fit", name, "--json", *fit_args]),
        ]
    )


def snapshots(
    session: Session, base_url: str, sample: Rows, before: int | None
) -> tuple[list[SnapshotEntry], int | None]:
    """A page of snapshots, newest first, below id ``before``; and the next page's
    ``before`` (None on the last page)."""
    stmt = (
        select(LeaderboardSnapshot, SnapshotVoteSet.columns)
        .outerjoin(SnapshotVoteSet, SnapshotVoteSet.id == LeaderboardSnapshot.vote_set_id)
        .order_by(LeaderboardSnapshot.id.desc())
        .limit(PAGE + 1)
    )
    if before is not None:
        stmt = stmt.where(LeaderboardSnapshot.id < before)
    found = session.execute(stmt).all()
    by_columns: dict[tuple[str, ...], dict[str, Estimate]] = {}
    entries = []
    for snap, names in found[:PAGE]:
        links: list[Link] = []
        if names is not None:
            key = tuple(names)
            if key not in by_columns:
                by_columns[key] = estimates(sample, VOTE_COLUMNS.only(key))
            # a board's download holds the votes it counted (a category board: its category's)
            rows = snap.votes_included
            links = _links(f"/api/v1/snapshots/{snap.id}/votes", by_columns[key], rows)
        entries.append(
            SnapshotEntry(
                id=snap.id,
                computed_at=snap.computed_at,
                view=snap.view,
                category=snap.category,
                votes=snap.votes_included,
                sha256=snap.sha256,
                fit_args=list(snap.fit_args),
                links=links,
                command=command(base_url, snap.id, snap.sha256, list(snap.fit_args)),
                verify=shlex.join(
                    [
                        "arena",
                        "snapshots",
                        "verify",
                        str(snap.id),
                        f"snapshot-{snap.id}-votes.jsonl",
                    ]
                ),
            )
        )
    more = found[PAGE - 1][0].id if len(found) > PAGE else None
    return entries, more


def data_page(session: Session, base_url: str, license: str, before: int | None) -> dict[str, Any]:
    items, sample = downloads(session)
    entries, older = snapshots(session, base_url, sample, before)
    return {
        "downloads": items,
        "snapshots": entries,
        "older": older,
        "before": before,
        "license": license,
        "base_url": base_url,
    }
