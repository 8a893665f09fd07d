"""Two separate `arena serve` processes on one PostgreSQL and one Redis behave as one arena;
`--workers 2` on one port likewise; SIGTERM lets an open battle stream finish and be stored."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from arena.battles.tables import BattleResponse, BattleTurn
from arena.db import make_engine, make_sessionmaker, session_scope
from serving.fakes import FakeModel, FakeServer
from serving.threaded import free_port
from tests.replicas.support import (
    ArenaProcess,
    arena_cli,
    arena_env,
    finished_sides,
    parse_sse,
)

POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
LONG_ANSWER = " ".join(f"word{i}" for i in range(16))


@pytest.fixture
def fakes() -> Iterator[tuple[FakeServer, FakeServer]]:
    alpha = FakeServer(FakeModel(served_name="alpha-served", answer="Paris is the capital."))
    beta = FakeServer(FakeModel(served_name="beta-served", answer="The capital is Paris."))
    with alpha, beta:
        yield alpha, beta


def add_models(env: dict[str, str], fakes: tuple[FakeServer, FakeServer]) -> None:
    for name, server in zip(("Alpha-7B", "Beta-3B"), fakes, strict=True):
        proc = arena_cli(
            "models",
            "add",
            "--name",
            name,
            "--base-url",
            server.base_url + "/v1",
            "--api-model",
            server.model.served_name,
            env=env,
        )
        assert proc.returncode == 0, proc.stderr
        assert "health: ok" in proc.stdout, proc.stdout


def converse(client: httpx.Client, server: ArenaProcess, battle: str) -> list[Any]:
    r = client.post(f"{server.base}/api/v1/battles/{battle}/messages", json={"content": "Hi?"})
    assert r.status_code == 200, r.text
    events = parse_sse(r.text)
    assert events[-1] == "[DONE]" and finished_sides(events) == {"A", "B"}, events
    return events


def create(client: httpx.Client, server: ArenaProcess) -> httpx.Response:
    return client.post(f"{server.base}/api/v1/battles", json={})


def vote(client: httpx.Client, server: ArenaProcess, battle: str, winner: str) -> dict[str, Any]:
    r = client.post(f"{server.base}/api/v1/battles/{battle}/vote", json={"winner": winner})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@POSTGRES
def test_two_processes_are_one_arena(
    database_url: str, redis_url: str, fakes: tuple[FakeServer, FakeServer]
) -> None:
    env = arena_env(
        database_url,
        ARENA_REDIS_URL=redis_url,
        # per client and per address; an hour so that the window cannot roll over mid-test
        ARENA_RATE_LIMIT_BATTLES="8/hour",
        ARENA_RATE_LIMIT_VOTES="100/hour",
    )
    add_models(env, fakes)
    one = ArenaProcess(free_port(), env)
    try:
        two = ArenaProcess(free_port(), env)
    except BaseException:
        one.stop()
        raise
    try:
        with httpx.Client(timeout=30) as client:  # one cookie jar: cookies ignore the port
            first = create(client, one)
            assert first.status_code == 201, first.text
            battle = first.json()["battle_id"]
            converse(client, two, battle)
            v1 = vote(client, two, battle, "A")

            second = create(client, two)
            assert second.status_code == 201, second.text
            converse(client, one, second.json()["battle_id"])
            v2 = vote(client, one, second.json()["battle_id"], "tie")
            assert {v1["revealed"]["A"]["model"], v1["revealed"]["B"]["model"]} == {
                "Alpha-7B",
                "Beta-3B",
            }

            # 4 of the 8 battle requests are spent (2 created, 2 messages); alternate the rest
            for k in range(4):
                r = create(client, (one, two)[k % 2])
                assert r.status_code == 201, (k, r.text)
            for server in (one, two):
                r = create(client, server)
                assert r.status_code == 429, r.text
                assert r.json()["error"]["code"] == "rate_limited"

            recompute = arena_cli("ratings", "recompute", env=env)
            assert recompute.returncode == 0, recompute.stderr
            boards = [client.get(f"{s.base}/api/v1/leaderboard").json() for s in (one, two)]
            assert boards[0]["snapshot_id"] is not None
            assert boards[0]["snapshot_id"] == boards[1]["snapshot_id"]
            assert boards[0]["votes_included"] == 2  # v1 cast on two, v2 on one
            assert v1["vote_id"] != v2["vote_id"]
    finally:
        one.stop()
        two.stop()


@POSTGRES
def test_two_workers_on_one_port(
    database_url: str, redis_url: str, fakes: tuple[FakeServer, FakeServer]
) -> None:
    env = arena_env(database_url, ARENA_REDIS_URL=redis_url)
    add_models(env, fakes)
    server = ArenaProcess(free_port(), env, workers=2)
    try:
        assert len(server.worker_pids()) == 2
        with httpx.Client(timeout=30) as client:
            created = create(client, server)
            assert created.status_code == 201, created.text
            battle = created.json()["battle_id"]
            converse(client, server, battle)
            revealed = vote(client, server, battle, "B")["revealed"]
            assert {revealed["A"]["model"], revealed["B"]["model"]} == {"Alpha-7B", "Beta-3B"}
    finally:
        server.stop()


@POSTGRES
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_an_open_stream_finish_and_stores_its_turn(
    database_url: str, redis_url: str, fakes: tuple[FakeServer, FakeServer], workers: int
) -> None:
    env = arena_env(database_url, ARENA_REDIS_URL=redis_url, ARENA_GRACEFUL_SHUTDOWN_SECONDS="60")
    add_models(env, fakes)
    for fake in fakes:  # about 2 s per answer: SIGTERM lands in the middle
        fake.model.answer, fake.model.tokens_per_second = LONG_ANSWER, 8.0
    server = ArenaProcess(free_port(), env, workers=workers)
    try:
        with httpx.Client(timeout=60) as client:
            created = create(client, server)
            assert created.status_code == 201, created.text
            battle = created.json()["battle_id"]
            raw: list[str] = []
            sent = threading.Event()
            with client.stream(
                "POST", f"{server.base}/api/v1/battles/{battle}/messages", json={"content": "Go"}
            ) as r:
                assert r.status_code == 200
                for line in r.iter_lines():
                    raw.append(line)
                    if '"delta"' in line and not sent.is_set():
                        server.terminate()
                        sent.set()
        assert sent.is_set()
        events = parse_sse("\n".join(raw) + "\n")
        assert events[-1] == "[DONE]"
        assert finished_sides(events) == {"A", "B"}, events
        # uvicorn re-raises the signal once it has shut down cleanly
        assert server.wait(timeout=60) in (0, -signal.SIGTERM), server.output()
        assert server.output().count("Application shutdown complete") == workers
    finally:
        server.stop()

    engine = make_engine(database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            turn = s.scalars(select(BattleTurn).where(BattleTurn.battle_id == battle)).one()
            sides = s.scalars(select(BattleResponse).where(BattleResponse.turn_id == turn.id))
            stored = {r.side: (r.status, r.content.strip()) for r in sides}
    finally:
        engine.dispose()
    assert turn.status == "done"
    assert stored == {"A": ("done", LONG_ANSWER), "B": ("done", LONG_ANSWER)}
