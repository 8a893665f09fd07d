"""Batches of rows to JSONL, CSV or Parquet bytes, one batch at a time (constant memory).

JSONL is the canonical form: `orjson` writes each row's keys in column order with the
shortest round-tripping float, so equal rows give equal bytes (a snapshot's sha256 is
taken over them). CSV and Parquet use the Arrow types of the columns, so a column that is
null in one batch keeps its type in the next.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, Literal

import orjson

from arena.exports.columns import Columns

Format = Literal["jsonl", "csv", "parquet"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv", "parquet")
MEDIA_TYPES = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}


def jsonl_row_lines(rows: list[dict[str, Any]], columns: Columns) -> list[bytes]:
    """Each row as one JSON line with exactly ``columns``, in their order."""
    if rows and tuple(rows[0]) != columns.names:
        rows = [{c: r[c] for c in columns.names} for r in rows]
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    return [dumps(r, option=newline) for r in rows]


def jsonl_lines(rows: list[dict[str, Any]], columns: Columns) -> bytes:
    """One JSON object per row with exactly ``columns``, in their order."""
    return b"".join(jsonl_row_lines(rows, columns))


def arrow_schema(columns: Columns) -> Any:
    import pyarrow as pa

    kinds = {"int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}
    return pa.schema(
        [(n, kinds.get(t, pa.string())) for n, t in zip(columns.names, columns.types, strict=True)]
    )


def encode(
    batches: Iterator[list[dict[str, Any]]], columns: Columns, fmt: Format
) -> Iterator[bytes]:
    """Serialise batches of rows; yields byte chunks (one or a few per batch)."""
    if fmt == "jsonl":
        for rows in batches:
            if rows:
                yield jsonl_lines(rows, columns)
        return
    import pyarrow as pa

    schema = arrow_schema(columns)
    if fmt == "csv":
        import pyarrow.csv as pacsv

        first = True
        for rows in batches:
            if not rows:
                continue
            buf = io.BytesIO()
            pacsv.write_csv(
                pa.Table.from_pylist(rows, schema=schema),
                buf,
                write_options=pacsv.WriteOptions(include_header=first),
            )
            first = False
            yield buf.getvalue()
        if first:
            yield (",".join(f'"{c}"' for c in columns.names) + "\n").encode()
        return
    import pyarrow.parquet as pq

    sink = _ChunkSink()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    for rows in batches:
        if rows:
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
            yield sink.take()
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
