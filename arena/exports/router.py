"""Streamed downloads for researchers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from typing import Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from arena.db import session_scope
from arena.errors import ArenaError
from arena.exports.service import FORMATS, MEDIA_TYPES, SOURCES, Format, Kind, encode

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])


def _stream(request: Request, kind: Kind, fmt: Format) -> AsyncIterator[bytes]:
    factory = request.app.state.sessionmaker
    source, columns = SOURCES[kind]

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


async def _export(request: Request, kind: Kind, fmt: str) -> StreamingResponse:
    if fmt not in FORMATS:
        raise ArenaError(400, "unknown_format", f"format must be one of {', '.join(FORMATS)}")
    f: Format = fmt
    headers = {"Content-Disposition": f'attachment; filename="arena-{kind}.{f}"'}
    return StreamingResponse(_stream(request, kind, f), media_type=MEDIA_TYPES[f], headers=headers)


FORMAT_QUERY: Any = Query("jsonl", description="jsonl, csv or parquet")


@router.get("/votes")
async def export_votes(request: Request, format: str = FORMAT_QUERY) -> StreamingResponse:
    """Every vote (included or not, with its exclusion reasons) in the LMSYS columns."""
    return await _export(request, "votes", format)


@router.get("/preferences")
async def export_preferences(request: Request, format: str = FORMAT_QUERY) -> StreamingResponse:
    """Decisive votes as (prompt, chosen, rejected) pairs."""
    return await _export(request, "preferences", format)


@router.get("/snapshots")
async def export_snapshots(request: Request, format: str = FORMAT_QUERY) -> StreamingResponse:
    """Every leaderboard snapshot, a row per model."""
    return await _export(request, "snapshots", format)
