"""The database failing under a stream of votes: a private PostgreSQL cluster stopped and
started again under `arena serve`, and a SQLite database whose disk is full.

Votes that meet the fault are answered 503 (PostgreSQL away) or 507 (no space) in the error
envelope, never 500, and leave nothing behind; the app needs no restart to take votes again.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select

from arena.battles.tables import Battle
from arena.db import make_engine
from arena.leaderboard.loop import recompute_once
from arena.migrate import upgrade
from arena.settings import Settings
from serving.fakes import FakeModel, FakeServer
from serving.threaded import free_port
from tests.faults.support import (
    DEADLINE,
    Ledger,
    PrivatePostgres,
    assert_ledger,
    postgres_bin,
    ready_battle,
    register_models,
    snapshot_vote_ids,
    snapshot_vote_ids_async,
    sse_events,
    vote,
    wait_until,
)
from tests.replicas.support import ArenaProcess, arena_cli, arena_env

UNLIMITED = {"ARENA_RATE_LIMIT_VOTES": "100000/hour", "ARENA_RATE_LIMIT_BATTLES": "100000/hour"}


@pytest.fixture
def fakes() -> Iterator[tuple[FakeServer, FakeServer]]:
    alpha = FakeServer(FakeModel(served_name="alpha-served", answer="Paris is the capital."))
    beta = FakeServer(FakeModel(served_name="beta-served", answer="The capital is Paris."))
    with alpha, beta:
        yield alpha, beta


def models_of(fakes: tuple[FakeServer, FakeServer]) -> list[tuple[str, str, str]]:
    return [
        (name, f.base_url, f.model.served_name)
        for name, f in zip(("Alpha-7B", "Beta-3B"), fakes, strict=True)
    ]


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bindir = postgres_bin()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("initdb is missing under CI (/usr/lib/postgresql/*/bin)")
        pytest.skip("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
    cluster = PrivatePostgres(bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


class Voter(threading.Thread):
    """Votes on each battle, then again on every refused one, until all are answered 200."""

    def __init__(self, base: str, cookies: httpx.Cookies, battles: list[str]) -> None:
        super().__init__(daemon=True)
        self.base, self.cookies, self.battles = base, cookies, battles
        self.ledger = Ledger()
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30, cookies=self.cookies) as client:
            todo = list(self.battles)
            while todo and not self.stop.is_set():
                battle = todo.pop(0)
                self.ledger.record(battle, vote(client, self.base, battle))
                if battle not in self.ledger.answered:
                    todo.append(battle)
                    self.stop.wait(0.02)

    def refusals(self) -> int:
        return sum(len(codes) for codes in self.ledger.refused.values())


@pytest.mark.postgres
def test_postgres_restarted_during_voting(
    private_postgres: PrivatePostgres, fakes: tuple[FakeServer, FakeServer]
) -> None:
    url = private_postgres.url()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    register_models(url, models_of(fakes))
    env = arena_env(url, **UNLIMITED)
    server = ArenaProcess(free_port(), env)
    try:
        with httpx.Client(timeout=30) as client:
            battles = [ready_battle(client, server.base) for _ in range(16)]
            voter = Voter(server.base, client.cookies, battles)
            voter.start()
            try:
                wait_until(lambda: len(voter.ledger.answered) >= 3, "the first votes")
                private_postgres.stop("fast")  # votes in flight meet terminated sessions
                wait_until(lambda: voter.refusals() >= 3, "votes refused while it is down")
                private_postgres.start()
                voter.join(timeout=DEADLINE)
                assert not voter.is_alive(), "votes did not recover after the restart"
            finally:
                voter.stop.set()
                voter.join(timeout=DEADLINE)
            ledger = voter.ledger
            assert ledger.statuses() == {200, 503}, ledger
            assert set(ledger.answered) == set(battles) and not ledger.unanswered
            stored = assert_ledger(url, ledger)

            # The same process, never restarted, keeps working and the board counts every vote.
            assert server.proc.poll() is None
            recompute = arena_cli("ratings", "recompute", env=env)
            assert recompute.returncode == 0, recompute.stderr
            assert snapshot_vote_ids(client, server.base) == set(stored)
            assert ready_battle(client, server.base)
    finally:
        server.stop()


async def ready_battle_async(client: httpx.AsyncClient) -> str:
    battle = str((await client.post("/api/v1/battles", json={})).json()["battle_id"])
    turn = await client.post(f"/api/v1/battles/{battle}/messages", json={"content": "2+2?"})
    events = sse_events(turn.text)
    assert (
        events[-1] == "[DONE]"
        and sum(1 for e in events if isinstance(e, dict) and e.get("done")) == 2
    )
    return battle


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_full_disk_refuses_votes_with_507_and_recovers(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: Settings,
    database_url: str,
    fakes: tuple[FakeServer, FakeServer],
) -> None:
    register_models(database_url, models_of(fakes))
    battles = [await ready_battle_async(client) for _ in range(40)]

    engine = app.state.engine
    cap: dict[str, int | None] = {"pages": None}

    def limit_pages(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        # max_page_count is per connection: set on every checkout, so the pool cannot escape it.
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA max_page_count = {cap['pages'] or 1073741823}")
        cursor.close()

    event.listen(engine, "checkout", limit_pages)
    try:
        with engine.connect() as conn:
            cap["pages"] = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
        ledger = Ledger()
        for battle in battles:
            ledger.record(
                battle, await client.post(f"/api/v1/battles/{battle}/vote", json={"winner": "B"})
            )
        assert ledger.statuses() == {200, 507} or ledger.statuses() == {507}, ledger
        assert {c for codes in ledger.refused.values() for c in codes} == {507}
        full = set(ledger.refused)
        assert full
        # Nothing half-written: a refused battle has no vote and is not marked voted.
        assert_ledger(database_url, ledger)
        with engine.connect() as conn:
            voted = set(conn.scalars(select(Battle.id).where(Battle.voted_at.is_not(None))))
        assert voted == set(ledger.answered)

        cap["pages"] = None  # the operator frees space; the app is not restarted
        for battle in sorted(full):
            ledger.record(
                battle, await client.post(f"/api/v1/battles/{battle}/vote", json={"winner": "B"})
            )
        assert set(ledger.answered) == set(battles)
        stored = assert_ledger(database_url, ledger)
    finally:
        event.remove(engine, "checkout", limit_pages)

    import asyncio

    assert await asyncio.to_thread(recompute_once, app.state.sessionmaker, settings) is not None
    assert await snapshot_vote_ids_async(client) == set(stored)
