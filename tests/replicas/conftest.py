"""Redis for the replica tests: a database number of their own, flushed before and after.

Like PostgreSQL, an unreachable Redis skips these tests with the reason, except under CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = 13  # nothing else in the test suite uses Redis; 13 keeps clear of a dev's 0


@pytest.fixture
def redis_url() -> Iterator[str]:
    url = os.environ.get("ARENA_TEST_REDIS_URL", f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}")
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {url} is unreachable under CI: {exc}")
        pytest.skip(f"Redis at {url} is unreachable: {exc.__class__.__name__}")
    client.flushdb()
    yield url
    client.flushdb()
    client.close()
