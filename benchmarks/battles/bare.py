"""The yardstick for the vote path: a bare FastAPI endpoint doing one INSERT.

Same stack as the arena (FastAPI, a sync handler in the thread pool, SQLAlchemy Core on
psycopg 3, one committed transaction per request), same uvicorn settings and workers, same
database server, driven by the same load generator with the same request shape (a signed
cookie, a JSON body with the winner). Nothing else: no cookie check, no limits, no
middleware, no reads. ``POST /bare/{battle_id}/vote`` stores ``(battle_id, winner)``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, insert

from arena.db import make_engine

metadata = MetaData()
bare_votes = Table(
    "bench_bare_votes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("battle_id", String(32), nullable=False),
    Column("winner", String(10), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


class BareVote(BaseModel):
    winner: Literal["A", "B", "tie", "bothbad"]


def create_table(url: str) -> None:
    """Made once by the orchestrator, before the workers start (they would race on it)."""
    engine = make_engine(url)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()


def create_bare_app(url: str) -> FastAPI:
    engine = make_engine(url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/bare/{battle_id}/vote")
    def vote(battle_id: str, body: BareVote) -> dict[str, Any]:
        with engine.begin() as conn:
            vote_id = conn.execute(
                insert(bare_votes)
                .values(battle_id=battle_id, winner=body.winner, created_at=datetime.now(UTC))
                .returning(bare_votes.c.id)
            ).scalar_one()
        return {"vote_id": vote_id}

    return app


def app_from_env() -> FastAPI:
    """The factory each uvicorn worker calls."""
    return create_bare_app(os.environ["ARENA_DATABASE_URL"])
