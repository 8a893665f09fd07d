"""Streamed downloads for researchers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from arena.db import session_scope
from arena.errors import ArenaError
from arena.exports.columns import Columns
from arena.exports.service import FORMATS, MEDIA_TYPES, SOURCES, Format, Kind, encode

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])

FORMAT_QUERY: Any = Query("jsonl", description="jsonl, csv or parquet")


def check_format(fmt: str) -> Format:
    if fmt not in FORMATS:
        raise ArenaError(400, "unknown_format", f"format must be one of {', '.join(FORMATS)}")
    return fmt


def _stream(
    request: Request,
    source: Callable[[Session], Iterator[list[dict[str, Any]]]],
    columns: Columns,
    fmt: Format,
) -> AsyncIterator[bytes]:
    factory = request.app.state.sessionmaker

    def produce() -> Generator[bytes, None, None]:
        with session_scope(factory) as session:
            yield from encode(source(session), columns, fmt)

    async def chunks() -> AsyncIterator[bytes]:
        gen = produce()
        try:
            while True:
                chunk = await anyio.to_thread.run_sync(next, gen, None)
                if chunk is None:
                    return
                yield chunk
        finally:
            await anyio.to_thread.run_sync(gen.close)

    return chunks()


def download(
    request: Request,
    filename: str,
    fmt: Format,
    source: Callable[[Session], Iterator[list[dict[str, Any]]]],
    columns: Columns,
) -> StreamingResponse:
    """Rows of ``source`` streamed as one attachment, encoded batch by batch, with the
    data licence as a ``rel="license"`` link (the one place all three formats have)."""
    spdx = request.app.state.settings.data_license
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}.{fmt}"',
        "Link": f'<https://spdx.org/licenses/{spdx}.html>; rel="license"',
    }
    return StreamingResponse(
        _stream(request, source, columns, fmt), media_type=MEDIA_TYPES[fmt], headers=headers
    )


def _export(request: Request, kind: Kind, fmt: str) -> StreamingResponse:
    source, columns = SOURCES[kind]
    return download(request, f"arena-{kind}", check_format(fmt), source, columns)


@router.get("/votes")
async def export_votes(request: Request, format: str = FORMAT_QUERY) -> StreamingResponse:
    """Every vote (included or not, with its exclusion reasons and time) in the LMSYS
    columns."""
    return _export(request, "votes", format)


@router.get("/preferences")
async def export_preferences(request: Request, format: str = FORMAT_QUERY) -> StreamingResponse:
    """Decisive votes as (prompt, chosen, rejected) pairs."""
    return _export(request, "preferences", format)


@router.get("/snapshots")
async def export_snapshots(request: Request, format: str = FORMAT_QUERY) -> StreamingResponse:
    """Every leaderboard snapshot, a row per model."""
    return _export(request, "snapshots", format)
