"""`arena serve` losing its Redis under votes, and killed (SIGKILL) with votes in flight.

Redis away: limits fall back to this process's own counters with a warning (never to no
limit) and are shared again once Redis answers. Killed: a restart on the same database finds
every vote answered 200; a vote whose answer was lost with the process is either stored once
(voting again says `already_voted`) or not at all (voting again counts it).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from arena.db import make_engine
from arena.migrate import upgrade
from serving.fakes import FakeModel, FakeServer
from serving.threaded import free_port
from tests.faults.support import (
    DEADLINE,
    Ledger,
    PrivateRedis,
    assert_envelope,
    assert_ledger,
    ready_battle,
    register_models,
    snapshot_vote_ids,
    stored_votes,
    vote,
    wait_until,
)
from tests.replicas.support import ArenaProcess, arena_cli, arena_env

UNLIMITED = {"ARENA_RATE_LIMIT_VOTES": "100000/hour", "ARENA_RATE_LIMIT_BATTLES": "100000/hour"}
FALLBACK = "fall back to this process's own counters"
SHARED_AGAIN = "rate limits are shared again"


@pytest.fixture
def fakes() -> Iterator[tuple[FakeServer, FakeServer]]:
    alpha = FakeServer(FakeModel(served_name="alpha-served", answer="Paris is the capital."))
    beta = FakeServer(FakeModel(served_name="beta-served", answer="The capital is Paris."))
    with alpha, beta:
        yield alpha, beta


def arena_database(url: str, fakes: tuple[FakeServer, FakeServer]) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    register_models(
        url,
        [
            (name, f.base_url, f.model.served_name)
            for name, f in zip(("Alpha-7B", "Beta-3B"), fakes, strict=True)
        ],
    )


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    try:
        server.start()
    except (FileNotFoundError, AssertionError) as exc:
        server.close()
        if os.environ.get("CI"):
            pytest.fail(f"redis-server cannot run under CI: {exc}")
        pytest.skip(f"redis-server cannot run here: {exc}")
    try:
        yield server
    finally:
        server.close()


def a_voter_votes_four_times(server: ArenaProcess, ledger: Ledger) -> list[int]:
    """A new client (its own cookie) votes on four battles under a limit of 3 votes."""
    with httpx.Client(timeout=30) as client:
        battles = [ready_battle(client, server.base) for _ in range(4)]
        answers = [vote(client, server.base, b) for b in battles]
    for battle, answer in zip(battles, answers, strict=True):
        ledger.record(battle, answer)
    return [a.status_code for a in answers]


def test_redis_gone_during_voting(
    tmp_path: Path, private_redis: PrivateRedis, fakes: tuple[FakeServer, FakeServer]
) -> None:
    url = f"sqlite:///{tmp_path / 'arena.db'}"
    arena_database(url, fakes)
    env = arena_env(
        url,
        ARENA_REDIS_URL=private_redis.url,
        ARENA_RATE_LIMIT_VOTES="3/hour",
        ARENA_RATE_LIMIT_BATTLES="100000/hour",
        # Counted per client only: every client of this test shares one address.
        ARENA_TRUSTED_NETWORKS="127.0.0.0/8",
    )
    server = ArenaProcess(free_port(), env)
    ledger = Ledger()
    try:
        assert a_voter_votes_four_times(server, ledger) == [200, 200, 200, 429]
        assert any(b"votes" in key for key in private_redis.stored_keys())

        private_redis.kill()
        # Still limited, by this process's own counters: never unlimited.
        assert a_voter_votes_four_times(server, ledger) == [200, 200, 200, 429]
        assert FALLBACK in server.output()

        private_redis.start()  # back on the same port, with no counts
        assert not private_redis.stored_keys()
        with httpx.Client(timeout=30) as client:
            # Any limited request tries Redis again once the retry interval has passed.
            def shared_again() -> bool:
                assert client.post(server.base + "/api/v1/battles", json={}).status_code == 201
                return SHARED_AGAIN in server.output()

            wait_until(shared_again, "limits to be shared again")
        assert a_voter_votes_four_times(server, ledger) == [200, 200, 200, 429]
        assert any(b"votes" in key for key in private_redis.stored_keys())

        stored = assert_ledger(url, ledger)
        assert len(stored) == 9
        recompute = arena_cli("ratings", "recompute", env=env)
        assert recompute.returncode == 0, recompute.stderr
        with httpx.Client(timeout=30) as client:
            assert snapshot_vote_ids(client, server.base) == set(stored)
    finally:
        server.stop()


class Voters:
    """Threads voting on a shared list of battles, counting the requests in flight."""

    def __init__(self, base: str, cookies: httpx.Cookies, battles: list[str], n: int) -> None:
        self.base, self.cookies, self.todo = base, cookies, list(battles)
        self.ledger = Ledger()
        self.in_flight = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        with httpx.Client(timeout=DEADLINE, cookies=self.cookies) as client:
            while True:
                with self.lock:
                    if not self.todo:
                        return
                    battle = self.todo.pop(0)
                    self.in_flight += 1
                try:
                    answer: httpx.Response | None = vote(client, self.base, battle)
                except httpx.TransportError:
                    answer = None
                with self.lock:
                    self.in_flight -= 1
                self.ledger.record(battle, answer)
                if answer is None:
                    return
                # A vote takes milliseconds: without a pause the voters would run out of
                # battles before the test can freeze the app with three of them on the wire.
                time.sleep(0.2)

    def join(self) -> None:
        for t in self.threads:
            t.join(timeout=DEADLINE)
            assert not t.is_alive()


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_app_killed_with_votes_in_flight(
    database_url: str, fakes: tuple[FakeServer, FakeServer]
) -> None:
    register_models(
        database_url,
        [
            (name, f.base_url, f.model.served_name)
            for name, f in zip(("Alpha-7B", "Beta-3B"), fakes, strict=True)
        ],
    )
    env = arena_env(database_url, **UNLIMITED)
    server = ArenaProcess(free_port(), env)
    try:
        with httpx.Client(timeout=30) as client:
            battles = [ready_battle(client, server.base) for _ in range(12)]
            cookies = client.cookies
        voters = Voters(server.base, cookies, battles, n=3)
        voters.start()
        wait_until(lambda: len(voters.ledger.answered) >= 4, "the first votes")
        # Frozen first, so that every voter is caught with a request on the wire.
        os.killpg(server.proc.pid, signal.SIGSTOP)
        wait_until(lambda: voters.in_flight == 3, "three votes in flight")
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=DEADLINE)
        voters.join()
    finally:
        server.stop()
    ledger = voters.ledger
    assert len(ledger.unanswered) == 3 and not ledger.refused
    # Every vote answered 200 survived the kill; a lost answer may or may not have committed.
    stored = stored_votes(database_url)
    answered = {vote_id: battle for battle, vote_id in ledger.answered.items()}
    assert set(answered.items()) <= set(stored.items())
    assert set(stored.values()) <= set(ledger.answered) | ledger.unanswered

    restarted = ArenaProcess(free_port(), env)  # same database, same key: same cookies
    try:
        with httpx.Client(timeout=30, cookies=cookies) as client:
            committed = set()
            for battle in sorted(ledger.unanswered):
                again = vote(client, restarted.base, battle)
                if again.status_code == 409:
                    assert_envelope(again)
                    assert again.json()["error"]["code"] == "already_voted"
                    committed.add(battle)
                else:
                    ledger.record(battle, again)
            for battle in [b for b in battles if b not in ledger.answered and b not in committed]:
                ledger.record(battle, vote(client, restarted.base, battle))
            stored = stored_votes(database_url)
            assert set(stored.values()) == set(battles)  # one vote per battle, none twice
            assert {b for v, b in stored.items() if v not in ledger.answered.values()} == committed
            assert set(ledger.answered.values()) <= set(stored)

            recompute = arena_cli("ratings", "recompute", env=env)
            assert recompute.returncode == 0, recompute.stderr
            assert snapshot_vote_ids(client, restarted.base) == set(stored)
    finally:
        restarted.stop()
