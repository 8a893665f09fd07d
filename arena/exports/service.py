"""Researcher downloads: votes, preference pairs and snapshots as JSONL, CSV or Parquet.

Rows are read in batches with a server-side cursor and written batch by batch, so an export
of millions of votes streams in constant memory (Parquet: one row group per batch). The vote
export carries the LMSYS columns `model_a, model_b, winner` plus `included` and the style
features under arena-rank's names, so `arena ratings fit` on it reproduces the board.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any, Literal

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from arena.battles.tables import BattleResponse, BattleTurn
from arena.leaderboard.service import row_numbers
from arena.leaderboard.tables import LeaderboardSnapshot, SnapshotRow
from arena.models.tables import ModelEndpoint
from arena.votes.tables import Vote, VoteExclusion
from arena.votes.vocabulary import LMSYS_WINNER

Format = Literal["jsonl", "csv", "parquet"]
Kind = Literal["votes", "preferences", "snapshots"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv", "parquet")
MEDIA_TYPES = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
BATCH = 20_000

VOTE_COLUMNS = [
    "vote_id",
    "battle_id",
    "tstamp",
    "model_a",
    "model_b",
    "winner",
    "turns",
    "included",
    "exclusion_reason",
    "sum_assistant_tokens_a",
    "sum_assistant_tokens_b",
    "answer_chars_a",
    "answer_chars_b",
    "header_count_a",
    "header_count_b",
    "list_count_a",
    "list_count_b",
    "bold_count_a",
    "bold_count_b",
]
PREFERENCE_COLUMNS = [
    "vote_id",
    "battle_id",
    "prompt",
    "conversation",
    "chosen",
    "rejected",
    "chosen_model",
    "rejected_model",
    "included",
]
SNAPSHOT_COLUMNS = [
    "snapshot_id",
    "computed_at",
    "method",
    "vote_watermark",
    "sha256",
    "model",
    "rating",
    "ci_low",
    "ci_high",
    "rank",
    "rank_ub",
    "battles",
]


def _vote_query(upto: int | None) -> Any:
    ma, mb = aliased(ModelEndpoint), aliased(ModelEndpoint)
    stmt = (
        select(Vote, ma.name, mb.name)
        .join(ma, ma.id == Vote.model_a_id)
        .join(mb, mb.id == Vote.model_b_id)
        .order_by(Vote.id)
    )
    if upto is not None:
        stmt = stmt.where(Vote.id <= upto)
    return stmt


def _exclusions(session: Session, vote_ids: list[int]) -> dict[int, str]:
    if not vote_ids:
        return {}
    found: dict[int, list[str]] = {}
    stmt = select(VoteExclusion.vote_id, VoteExclusion.reason).where(
        VoteExclusion.vote_id.in_(vote_ids)
    )
    for vid, reason in session.execute(stmt):
        found.setdefault(vid, []).append(reason)
    return {vid: ",".join(sorted(r)) for vid, r in found.items()}


def vote_batches(session: Session, upto: int | None = None) -> Iterator[list[dict[str, Any]]]:
    result = session.execute(
        _vote_query(upto).execution_options(stream_results=True, yield_per=BATCH)
    )
    for part in result.partitions(BATCH):
        ids = [v.id for v, _, _ in part]
        excl = _exclusions(session, ids)
        yield [
            {
                "vote_id": v.id,
                "battle_id": v.battle_id,
                "tstamp": v.created_at.timestamp(),
                "model_a": a,
                "model_b": b,
                "winner": LMSYS_WINNER[v.winner],
                "turns": v.turns,
                "included": v.included,
                "exclusion_reason": excl.get(v.id, ""),
                "sum_assistant_tokens_a": v.a_tokens,
                "sum_assistant_tokens_b": v.b_tokens,
                "answer_chars_a": v.a_chars,
                "answer_chars_b": v.b_chars,
                "header_count_a": v.a_headers,
                "header_count_b": v.b_headers,
                "list_count_a": v.a_lists,
                "list_count_b": v.b_lists,
                "bold_count_a": v.a_bold,
                "bold_count_b": v.b_bold,
            }
            for v, a, b in part
        ]


def preference_batches(session: Session) -> Iterator[list[dict[str, Any]]]:
    """Decisive votes as (prompt, chosen, rejected): the last turn's answers, with the
    whole conversation of user messages alongside."""
    for votes in vote_batches(session):
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


def snapshot_batches(session: Session) -> Iterator[list[dict[str, Any]]]:
    stmt = (
        select(SnapshotRow, LeaderboardSnapshot)
        .join(LeaderboardSnapshot, LeaderboardSnapshot.id == SnapshotRow.snapshot_id)
        .order_by(SnapshotRow.snapshot_id, SnapshotRow.rank, SnapshotRow.model)
        .execution_options(yield_per=BATCH)
    )
    for part in session.execute(stmt).partitions(BATCH):
        yield [
            {
                "snapshot_id": s.id,
                "computed_at": s.computed_at.isoformat(),
                "method": s.method,
                "vote_watermark": s.vote_watermark,
                "sha256": s.sha256,
                **row_numbers(r),
            }
            for r, s in part
        ]


SOURCES: dict[Kind, tuple[Callable[[Session], Iterator[list[dict[str, Any]]]], list[str]]] = {
    "votes": (vote_batches, VOTE_COLUMNS),
    "preferences": (preference_batches, PREFERENCE_COLUMNS),
    "snapshots": (snapshot_batches, SNAPSHOT_COLUMNS),
}


def encode(
    batches: Iterator[list[dict[str, Any]]], columns: list[str], fmt: Format
) -> Iterator[bytes]:
    """Serialise batches of rows; yields byte chunks (one or a few per batch)."""
    if fmt == "jsonl":
        for rows in batches:
            yield b"".join(orjson.dumps(r) + b"\n" for r in rows)
        return
    import pyarrow as pa

    if fmt == "csv":
        import pyarrow.csv as pacsv

        first = True
        for rows in batches:
            table = pa.Table.from_pylist(rows) if rows else None
            if table is None:
                continue
            buf = io.BytesIO()
            pacsv.write_csv(
                table.select(columns),
                buf,
                write_options=pacsv.WriteOptions(include_header=first),
            )
            first = False
            yield buf.getvalue()
        if first:
            yield (",".join(columns) + "\n").encode()
        return
    import pyarrow.parquet as pq

    sink = _ChunkSink()
    writer: Any = None
    for rows in batches:
        if not rows:
            continue
        table = pa.Table.from_pylist(rows).select(columns)
        if writer is None:
            writer = pq.ParquetWriter(sink, table.schema, compression="zstd")
        writer.write_table(table)
        yield sink.take()
    if writer is None:
        empty = pa.table({c: pa.array([], pa.string()) for c in columns})
        writer = pq.ParquetWriter(sink, empty.schema)
    writer.close()
    yield sink.take()


class _ChunkSink(io.RawIOBase):
    """A write-only stream that hands out what was written so far; `tell()` keeps counting
    (Parquet footers record absolute offsets)."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._written += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._written

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data
