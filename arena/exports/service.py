"""Researcher downloads: votes, preference pairs and snapshots as JSONL, CSV or Parquet.

Rows are read in batches with a server-side cursor and written batch by batch, so an export
of millions of votes streams in constant memory (Parquet: one row group per batch). The vote
export carries the LMSYS columns `model_a, model_b, winner` plus `included`, the exclusion
reasons with the time of the first one, and the style features under arena-rank's names,
so `arena ratings fit` on it reproduces the current board and the ledger times tell which
votes an older board still counted. A snapshot's own download is in `snapshot_votes`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Literal

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.battles.tables import BattleResponse, BattleTurn
from arena.exports.columns import (
    BATCH,
    PREFERENCE_COLUMNS,
    SNAPSHOT_COLUMNS,
    VOTE_COLUMNS,
    Columns,
    Ledger,
    model_names,
    raw_vote_batches,
    vote_rows,
    vote_select,
)
from arena.exports.encode import FORMATS, MEDIA_TYPES, Format, encode
from arena.leaderboard.service import row_numbers
from arena.leaderboard.tables import LeaderboardSnapshot, SnapshotRow
from arena.votes.tables import VoteExclusion

__all__ = ["FORMATS", "MEDIA_TYPES", "SOURCES", "Format", "Kind", "encode", "vote_batches"]

Kind = Literal["votes", "preferences", "snapshots"]
Source = Callable[[Session], Iterator[list[dict[str, Any]]]]


def _ledger(session: Session, lo: int, hi: int) -> dict[int, Ledger]:
    """Exclusions of the votes ``lo..hi``: reasons joined, and the earliest exclusion time."""
    stmt = select(VoteExclusion.vote_id, VoteExclusion.reason, VoteExclusion.created_at).where(
        VoteExclusion.vote_id >= lo, VoteExclusion.vote_id <= hi
    )
    reasons: dict[int, list[str]] = {}
    first: dict[int, float] = {}
    for vid, reason, at in session.execute(stmt):
        reasons.setdefault(vid, []).append(reason)
        t = at.timestamp()
        first[vid] = min(first.get(vid, t), t)
    return {vid: Ledger(",".join(sorted(r)), first[vid]) for vid, r in reasons.items()}


def vote_batches(session: Session, lo: int | None = None) -> Iterator[list[dict[str, Any]]]:
    """Every vote (from id ``lo`` on) with its current `included` and its exclusion ledger."""
    names = model_names(session)
    for raw in raw_vote_batches(session, vote_select(lo)):
        yield vote_rows(raw, names, _ledger(session, raw[0][0], raw[-1][0]))


def preference_batches(session: Session, lo: int | None = None) -> Iterator[list[dict[str, Any]]]:
    """Decisive votes (from id ``lo`` on) as (prompt, chosen, rejected): the last turn's
    answers, with the whole conversation of user messages alongside."""
    for votes in vote_batches(session, lo):
        decisive = [v for v in votes if v["winner"] in ("model_a", "model_b")]
        battle_ids = [v["battle_id"] for v in decisive]
        if not battle_ids:
            continue
        turns: dict[str, list[tuple[int, int, str]]] = {}
        for t in session.execute(
            select(BattleTurn.battle_id, BattleTurn.idx, BattleTurn.id, BattleTurn.content)
            .where(BattleTurn.battle_id.in_(battle_ids))
            .order_by(BattleTurn.battle_id, BattleTurn.idx)
        ):
            turns.setdefault(t.battle_id, []).append((t.idx, t.id, t.content))
        last_ids = [ts[-1][1] for ts in turns.values()]
        answers = {
            (r.turn_id, r.side): r.content
            for r in session.execute(
                select(BattleResponse.turn_id, BattleResponse.side, BattleResponse.content).where(
                    BattleResponse.turn_id.in_(last_ids)
                )
            )
        }
        rows = []
        for v in decisive:
            ts = turns.get(v["battle_id"])
            if not ts:
                continue
            last_id = ts[-1][1]
            win, lose = ("A", "B") if v["winner"] == "model_a" else ("B", "A")
            rows.append(
                {
                    "vote_id": v["vote_id"],
                    "battle_id": v["battle_id"],
                    "prompt": ts[-1][2],
                    "conversation": orjson.dumps([c for _, _, c in ts]).decode(),
                    "chosen": answers.get((last_id, win), ""),
                    "rejected": answers.get((last_id, lose), ""),
                    "chosen_model": v["model_a"] if win == "A" else v["model_b"],
                    "rejected_model": v["model_b"] if win == "A" else v["model_a"],
                    "included": v["included"],
                }
            )
        yield rows


def snapshot_batches(session: Session, lo: int | None = None) -> Iterator[list[dict[str, Any]]]:
    """Every snapshot's rows (from snapshot ``lo`` on)."""
    stmt = (
        select(SnapshotRow, LeaderboardSnapshot)
        .join(LeaderboardSnapshot, LeaderboardSnapshot.id == SnapshotRow.snapshot_id)
        .where(SnapshotRow.snapshot_id >= (lo or 0))
        .order_by(SnapshotRow.snapshot_id, SnapshotRow.rank, SnapshotRow.model)
        .execution_options(yield_per=BATCH)
    )
    for part in session.execute(stmt).partitions(BATCH):
        yield [
            {
                "snapshot_id": s.id,
                "computed_at": s.computed_at.isoformat(),
                "view": s.view,
                "category": s.category,
                "method": s.method,
                "vote_watermark": s.vote_watermark,
                "sha256": s.sha256,
                "fit_args": orjson.dumps(s.fit_args).decode(),
                **row_numbers(r),
            }
            for r, s in part
        ]


SOURCES: dict[Kind, tuple[Source, Columns]] = {
    "votes": (vote_batches, VOTE_COLUMNS),
    "preferences": (preference_batches, PREFERENCE_COLUMNS),
    "snapshots": (snapshot_batches, SNAPSHOT_COLUMNS),
}
