"""`arena serve` refuses what cannot work with one line and exit 1, before it starts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from arena.cli.serve import WORKERS_PER_CORE, usable_cores
from tests.replicas.support import arena_cli, arena_env, assert_one_line_error


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'arena.db'}"


def test_usable_cores_follow_the_affinity() -> None:
    assert usable_cores() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("workers", ["0", "-1", str(WORKERS_PER_CORE * usable_cores() + 1)])
def test_workers_out_of_range(db: str, workers: str) -> None:
    proc = arena_cli("serve", "--port", "1", "--workers", workers, env=arena_env(db))
    assert_one_line_error(
        proc, f"--workers must be between 1 and {WORKERS_PER_CORE * usable_cores()}"
    )
    assert f"got {workers}" in proc.stderr


def test_workers_with_a_metrics_port(db: str) -> None:
    env = arena_env(db, ARENA_METRICS_PORT="9464")
    assert_one_line_error(arena_cli("serve", "--workers", "2", env=env), "ARENA_METRICS_PORT")


def test_workers_on_in_memory_sqlite() -> None:
    proc = arena_cli("serve", "--workers", "2", env=arena_env("sqlite://"))
    assert_one_line_error(proc, "in-memory SQLite database cannot be shared")


def test_a_redis_that_does_not_answer(db: str) -> None:
    env = arena_env(db, ARENA_REDIS_URL="redis://127.0.0.1:1/0")
    proc = arena_cli("serve", "--port", "1", env=env)
    assert_one_line_error(proc, "Redis at redis://127.0.0.1:1/0 (ARENA_REDIS_URL) does not answer")


def test_a_redis_url_that_is_not_one(db: str) -> None:
    env = arena_env(db, ARENA_REDIS_URL="http://127.0.0.1:6379")
    assert_one_line_error(arena_cli("serve", env=env), "ARENA_REDIS_URL is not a Redis URL")
