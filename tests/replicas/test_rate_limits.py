"""Rate limits on Redis: counted once across processes, refused at start when Redis does not
answer, per-process (never none) while it is away, shared again when it is back."""

from __future__ import annotations

import logging

import pytest
import redis

from arena import ratelimit
from arena.app import create_app
from arena.errors import ArenaError
from arena.ratelimit import RateLimits, RedisUnavailable
from arena.settings import Settings
from tests.replicas.support import RedisRelay


def limits_on(url: str | None, votes: str = "3/minute") -> RateLimits:
    return RateLimits(Settings(redis_url=url, rate_limit_votes=votes))


async def allowed(limits: RateLimits, who: str = "client:x") -> bool:
    try:
        await limits.hit("votes", who)
    except ArenaError as exc:
        assert exc.status == 429
        return False
    return True


def stored_keys(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return len(client.keys(f"{ratelimit.KEY_PREFIX}*"))
    finally:
        client.close()


async def test_two_processes_share_one_count(redis_url: str) -> None:
    one, two = limits_on(redis_url), limits_on(redis_url)
    try:
        await one.start()
        await two.start()
        assert [await allowed(x) for x in (one, two, one)] == [True, True, True]
        assert not await allowed(two)  # the 4th of 3/minute, wherever it lands
        assert not await allowed(one)
        assert await allowed(two, "client:someone-else")
        assert stored_keys(redis_url) > 0
    finally:
        await one.close()
        await two.close()


async def test_without_redis_each_process_counts_alone() -> None:
    one, two = limits_on(None), limits_on(None)
    assert [await allowed(x) for x in (one, two, one, two, one, two)] == [True] * 6
    assert not await allowed(one) and not await allowed(two)


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("redis://127.0.0.1:1/0", "does not answer"),
        ("http://127.0.0.1:6379/0", "not"),
    ],
)
async def test_a_redis_that_does_not_answer_stops_the_start(url: str, needle: str) -> None:
    with pytest.raises(RedisUnavailable, match=needle):
        limits = limits_on(url)
        try:
            await limits.start()
        finally:
            await limits.close()


async def test_the_app_does_not_start_on_an_unreachable_redis() -> None:
    settings = Settings(
        database_url="sqlite://",
        secret_key="k" * 32,
        redis_url="redis://127.0.0.1:1/0",  # type: ignore[arg-type]
    )
    app = create_app(settings)
    with pytest.raises(RedisUnavailable, match=r"127\.0\.0\.1:1"):
        async with app.router.lifespan_context(app):
            pass


async def test_redis_going_away_degrades_to_local_limits_and_comes_back(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ratelimit, "RETRY_SECONDS", 0.0)  # try Redis again at every request
    db = redis_url.rsplit("/", 1)[1]
    relay = RedisRelay(("127.0.0.1", 6379))
    await relay.start()
    relayed = f"redis://127.0.0.1:{relay.port}/{db}"
    limits = limits_on(relayed, votes="2/minute")
    caplog.set_level(logging.WARNING, logger="arena.ratelimit")
    try:
        await limits.start()
        assert await allowed(limits, "client:a")
        assert stored_keys(redis_url) > 0 and not limits.degraded

        await relay.cut()
        # Redis is gone: still limited, by this process's own counter (never unlimited)
        assert await allowed(limits, "client:b")
        assert limits.degraded
        assert "fall back to this process's own counters" in caplog.text
        assert await allowed(limits, "client:b")
        assert not await allowed(limits, "client:b")

        await relay.restore()
        before = stored_keys(redis_url)
        assert await allowed(limits, "client:c")
        assert not limits.degraded
        assert "shared again" in caplog.text
        assert stored_keys(redis_url) > before  # counted in Redis again
        # client:a's Redis count survived the outage: one more is allowed, then 429
        assert await allowed(limits, "client:a")
        assert not await allowed(limits, "client:a")
    finally:
        await limits.close()
        await relay.cut()
