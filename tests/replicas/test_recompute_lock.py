"""One recompute per interval however many processes run the loop: a lock (advisory on
PostgreSQL, a file beside SQLite), then the age of the latest snapshot."""

from __future__ import annotations

import fcntl
import threading
import uuid
from datetime import timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from arena.battles.tables import Battle
from arena.db import make_sessionmaker, session_scope, utcnow
from arena.leaderboard.loop import LOCK_KEY, LOCK_SUFFIX, recompute_once
from arena.leaderboard.tables import LeaderboardSnapshot
from arena.models.service import OperatorModel, add_operator_model
from arena.settings import Settings
from arena.votes.tables import Vote

HOUR = 3600.0


def two_models(factory: sessionmaker[Session]) -> tuple[int, int]:
    with session_scope(factory) as s:
        ids = [
            add_operator_model(
                s, OperatorModel(name=name, base_url="http://127.0.0.1:9/v1", api_model=name)
            ).id
            for name in ("Alpha-7B", "Beta-3B")
        ]
    return ids[0], ids[1]


def add_votes(factory: sessionmaker[Session], models: tuple[int, int], n: int) -> None:
    a, b = models
    with session_scope(factory) as s:
        for k in range(n):
            battle = Battle(
                id=uuid.uuid4().hex,
                model_a_id=a,
                model_b_id=b,
                system_message="s",
                client_hash=f"c{k}",
                ip_hash="i",
                network_hash="n",
            )
            s.add(battle)
            s.flush()
            s.add(
                Vote(
                    battle_id=battle.id,
                    winner=("A", "B", "tie")[k % 3],
                    model_a_id=a,
                    model_b_id=b,
                    turns=1,
                    client_hash=f"c{k}",
                    ip_hash="i",
                    network_hash="n",
                    read_seconds=10.0,
                    created_at=utcnow(),
                    a_tokens=100,
                    b_tokens=100,
                )
            )


def snapshots(factory: sessionmaker[Session]) -> int:
    """Recomputes made: each writes one headline board (and the boards recomputed with it)."""
    with session_scope(factory) as s:
        headline = LeaderboardSnapshot.headline_id.is_(None)
        return s.scalar(select(func.count()).select_from(LeaderboardSnapshot).where(headline)) or 0


def test_a_round_waits_for_the_interval_a_forced_recompute_does_not(
    engine: Engine, settings: Settings
) -> None:
    factory = make_sessionmaker(engine)
    models = two_models(factory)
    add_votes(factory, models, 6)
    first = recompute_once(factory, settings, min_age=HOUR)
    assert first is not None
    add_votes(factory, models, 6)
    # another process's round, a moment later: votes moved, but the interval has not passed
    assert recompute_once(factory, settings, min_age=HOUR) is None
    assert snapshots(factory) == 1
    forced = recompute_once(factory, settings)  # `arena ratings recompute`, tests
    assert forced is not None and forced != first
    add_votes(factory, models, 3)
    with session_scope(factory) as s:
        s.execute(update(LeaderboardSnapshot).values(computed_at=utcnow() - timedelta(hours=2)))
    third = recompute_once(factory, settings, min_age=HOUR)
    assert third is not None and snapshots(factory) == 3


def test_rounds_of_many_processes_at_once_make_one_snapshot(
    engine: Engine, settings: Settings
) -> None:
    factory = make_sessionmaker(engine)
    add_votes(factory, two_models(factory), 9)
    barrier = threading.Barrier(4)
    made: list[int | None] = []

    def round_() -> None:
        barrier.wait()
        made.append(recompute_once(factory, settings, min_age=HOUR))

    threads = [threading.Thread(target=round_) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 4 and len([m for m in made if m is not None]) == 1
    assert snapshots(factory) == 1


def test_a_held_lock_skips_even_a_forced_recompute(engine: Engine, settings: Settings) -> None:
    factory = make_sessionmaker(engine)
    add_votes(factory, two_models(factory), 6)
    if engine.dialect.name == "postgresql":
        with engine.connect() as other:
            other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
            assert recompute_once(factory, settings) is None
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            other.commit()
    else:
        database = make_url(settings.database_url).database
        assert database
        with open(database + LOCK_SUFFIX, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            assert recompute_once(factory, settings) is None
            fcntl.flock(handle, fcntl.LOCK_UN)
    assert snapshots(factory) == 0
    assert recompute_once(factory, settings) is not None
