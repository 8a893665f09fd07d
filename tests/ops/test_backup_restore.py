"""PostgreSQL backup and restore, as docs/operations.md says to do it, tried once for real.

Votes are cast through the API against fake model servers (and a batch through the vote
service), the leaderboard is recomputed twice with an exclusion in between, the database is
dumped with `pg_dump -Fc` and restored with `pg_restore` into a new database; an app on the
restored database must then publish the same boards, downloads and export, and every
snapshot must pass `arena snapshots verify` against its own download.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from arena.app import create_app
from arena.cli import app as cli
from arena.db import make_engine, session_scope
from arena.leaderboard.loop import recompute_once
from arena.leaderboard.tables import LeaderboardSnapshot
from arena.settings import Settings
from arena.tables import metadata
from arena.votes.service import exclude
from arena.votes.tables import Vote
from tests.battles.support import send
from tests.snapshots.support import add_models, seed_votes

pytestmark = pytest.mark.postgres

WINNERS = ["A", "B", "tie", "A", "bothbad", "B", "A", "A"]


def libpq(url: str) -> str:
    """pg_dump and pg_restore take libpq URLs: SQLAlchemy's without the driver name."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def database_url(pg_url: str) -> Iterator[str]:
    """PostgreSQL only (the shared test database), emptied afterwards like conftest's."""
    yield pg_url
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.rate_limit_battles = settings.rate_limit_votes = "1000/minute"
    return settings


@pytest.fixture
def restored_url(pg_url: str) -> Iterator[str]:
    """A new, empty database on the same server (what `createdb` makes), dropped after."""
    name = f"arena_restored_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(pg_url), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


async def battles(client: httpx.AsyncClient, winners: list[str]) -> None:
    for n, winner in enumerate(winners):
        battle_id = (await client.post("/api/v1/battles", json={})).json()["battle_id"]
        prompt = "Write a Python function that adds two numbers." if n % 3 else "Hello?"
        assert (await send(client, battle_id, prompt)).status_code == 200
        vote = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": winner})
        assert vote.status_code == 200, vote.text


async def published(client: httpx.AsyncClient, snapshot_ids: list[int]) -> dict[str, Any]:
    """Status and body of everything a researcher can read about the boards, by URL."""
    listed = await client.get("/api/v1/leaderboard/categories")
    categories = listed.json() if listed.status_code == 200 else []
    must = ["/api/v1/leaderboard", "/api/v1/exports/votes?format=jsonl"]
    must += [f"/api/v1/leaderboard?category={c['category']}" for c in categories if c["shown"]]
    for sid in snapshot_ids:
        must += [f"/api/v1/snapshots/{sid}", f"/api/v1/snapshots/{sid}/votes?format=jsonl"]
    # Views, categories and history may not exist for this board yet: then the same error on both sides.
    may = [
        "/api/v1/leaderboard?view=style",
        "/api/v1/leaderboard/categories",
        "/api/v1/leaderboard/history?model=Alpha-7B",
    ]
    got: dict[str, Any] = {}
    for url in [*must, *may]:
        r = await client.get(url)
        assert r.status_code == 200 or url in may, (url, r.text)
        got[url] = (r.status_code, r.content)
    return got


def dump_and_restore(source: str, target: str, dump: Path) -> None:
    """The commands of docs/operations.md, "Backup and restore"."""
    for tool in ("pg_dump", "pg_restore"):
        assert shutil.which(tool), f"{tool} is not installed"
    backup = ["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", libpq(source)]
    subprocess.run(backup, check=True, timeout=120)
    restore = ["pg_restore", "--no-owner", "--exit-on-error", "--single-transaction"]
    subprocess.run([*restore, f"--dbname={libpq(target)}", str(dump)], check=True, timeout=120)


async def test_a_dump_restored_into_a_new_database_publishes_the_same_boards(
    arena: FastAPI,
    client: httpx.AsyncClient,
    settings: Settings,
    restored_url: str,
    tmp_path: Path,
) -> None:
    with session_scope(arena.state.sessionmaker) as s:
        add_models(s, ["Gamma-1B"])  # never healthy: votes only through the service
        seed_votes(s, 40, tag="seed")
    await battles(client, WINNERS)
    assert recompute_once(arena.state.sessionmaker, settings) is not None
    await battles(client, WINNERS[:5])
    with session_scope(arena.state.sessionmaker) as s:
        # A vote the first snapshots counted: they must keep it, restored too.
        counted = s.scalars(select(Vote).where(Vote.included).order_by(Vote.id)).first()
        assert counted is not None
        exclude(s, counted, "too_fast", "test")
    assert recompute_once(arena.state.sessionmaker, settings) is not None
    with session_scope(arena.state.sessionmaker) as s:
        snapshot_ids = list(s.scalars(select(LeaderboardSnapshot.id).order_by("id")))
    assert len(snapshot_ids) >= 2  # two recomputes (each may hold several views' boards)
    before = await published(client, snapshot_ids)
    votes = 40 + len(WINNERS) + 5
    assert before["/api/v1/exports/votes?format=jsonl"][1].count(b"\n") == votes

    await asyncio.to_thread(
        dump_and_restore, settings.database_url, restored_url, tmp_path / "arena.dump"
    )

    copy = create_app(settings.model_copy(update={"database_url": restored_url}))
    async with copy.router.lifespan_context(copy):
        transport = httpx.ASGITransport(app=copy, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            after = await published(c, snapshot_ids)
    assert after.keys() == before.keys()
    assert [url for url in before if after[url] != before[url]] == []

    runner = CliRunner()
    for sid in snapshot_ids:
        path = tmp_path / f"snapshot-{sid}.jsonl"
        path.write_bytes(after[f"/api/v1/snapshots/{sid}/votes?format=jsonl"][1])
        result = runner.invoke(
            cli,
            ["snapshots", "verify", str(sid), str(path)],
            env={"ARENA_DATABASE_URL": restored_url},
        )
        assert result.exit_code == 0, (sid, result.output, result.exception)
        assert "match: sha256" in result.output
