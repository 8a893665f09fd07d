"""Rate limits on the `limits` library: in-process by default, Redis (shared by every API
process and replica) when ARENA_REDIS_URL is set.

A Redis that does not answer at start stops the start (`RedisUnavailable`). One that goes
away later does not open the gates: limits fall back to this process's own counters, with a
warning, and go back to Redis once it answers again (tried at most every `RETRY_SECONDS`).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any
from urllib.parse import urlsplit

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from arena.errors import ArenaError
from arena.settings import Settings

log = logging.getLogger("arena.ratelimit")

KEY_PREFIX = "arena-limits"
RETRY_SECONDS = 5.0
# Redis answers in well under a millisecond; a second means it is gone, and a request must
# not hang on it.
SOCKET_TIMEOUT = 1.0


class RedisUnavailable(Exception):
    """ARENA_REDIS_URL is malformed or does not answer: one line saying which."""


def safe_redis_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparseable URL)"
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


async def ping_redis(url: str) -> None:
    """Raise `RedisUnavailable` unless Redis at ``url`` answers PING."""
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    try:
        client = aioredis.Redis.from_url(
            url, socket_connect_timeout=SOCKET_TIMEOUT, socket_timeout=SOCKET_TIMEOUT
        )
    except ValueError as exc:
        raise RedisUnavailable(f"ARENA_REDIS_URL is not a Redis URL: {exc}") from None
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RedisUnavailable(
            f"Redis at {safe_redis_url(url)} (ARENA_REDIS_URL) does not answer: {reason}"
        ) from None
    finally:
        await client.aclose()


class SweptMemoryStorage(MemoryStorage):
    """limits' in-process storage, sweeping expired keys at most once a second.

    After every hit, limits starts a sweep over all keys as soon as the previous one is
    done, so a busy process with many clients (keys per client and address) scans them all
    on nearly every request: 11% of a vote's CPU in benchmarks/results/votes.json before.
    Reads drop an expired key themselves, so the sweep only frees memory, and once a second
    frees it soon enough."""

    SWEEP_SECONDS = 1.0

    def __init__(self) -> None:
        super().__init__()
        self._sweep_at = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now < self._sweep_at:
            return
        self._sweep_at = now + self.SWEEP_SECONDS
        await super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self.redis_url = settings.redis_url
        self._storages: list[Any] = [SweptMemoryStorage()]
        # Sliding-window counters: two counters per key instead of a timestamp list per key,
        # which the moving window re-sweeps after every hit.
        self._local = SlidingWindowCounterRateLimiter(self._storages[0])
        self._shared: SlidingWindowCounterRateLimiter | None = None
        if self.redis_url:
            uri = (
                self.redis_url if self.redis_url.startswith("async+") else "async+" + self.redis_url
            )
            try:
                storage = storage_from_string(
                    uri,
                    implementation="redispy",
                    key_prefix=KEY_PREFIX,
                    wrap_exceptions=True,
                    socket_connect_timeout=SOCKET_TIMEOUT,
                    socket_timeout=SOCKET_TIMEOUT,
                )
            except Exception as exc:  # limits raises ConfigurationError or ValueError
                raise RedisUnavailable(f"ARENA_REDIS_URL is not usable: {exc}") from None
            self._storages.append(storage)
            self._shared = SlidingWindowCounterRateLimiter(storage)
        self._retry_at = 0.0  # while degraded: monotonic time of the next try of Redis
        self.degraded = False
        self.items: dict[str, RateLimitItem] = {
            "battles": parse(settings.rate_limit_battles),
            "votes": parse(settings.rate_limit_votes),
            "owners": parse(settings.rate_limit_owners),
        }

    async def start(self) -> None:
        """Fail now, not at the first request, if the configured Redis does not answer."""
        if self.redis_url:
            await ping_redis(self.redis_url)

    async def hit(self, kind: str, *identity: str) -> None:
        """Count one request for each identity (client, address); 429 if any is over."""
        item = self.items[kind]
        for who in identity:
            allowed, limiter = await self._hit(item, kind, who)
            if not allowed:
                reset = await self._reset_time(limiter, item, kind, who)
                retry = max(1, math.ceil(reset - time.time()))
                raise ArenaError(
                    429,
                    "rate_limited",
                    f"too many {kind} requests; try again in {retry} s",
                    headers={"Retry-After": str(retry)},
                )

    async def _hit(
        self, item: RateLimitItem, kind: str, who: str
    ) -> tuple[bool, SlidingWindowCounterRateLimiter]:
        shared = self._shared
        if shared is not None and (not self.degraded or time.monotonic() >= self._retry_at):
            try:
                allowed = await shared.hit(item, kind, who)
            except StorageError as exc:
                self._degrade(exc)
            else:
                if self.degraded:
                    self.degraded = False
                    log.warning("Redis answers again: rate limits are shared again")
                return allowed, shared
        return await self._local.hit(item, kind, who), self._local

    def _degrade(self, exc: StorageError) -> None:
        if not self.degraded:
            log.warning(
                "Redis at %s is unavailable (%s): rate limits fall back to this process's "
                "own counters until it answers again",
                safe_redis_url(self.redis_url or ""),
                exc.storage_error,
            )
        self.degraded = True
        self._retry_at = time.monotonic() + RETRY_SECONDS

    async def _reset_time(
        self, limiter: SlidingWindowCounterRateLimiter, item: RateLimitItem, kind: str, who: str
    ) -> float:
        try:
            stats = await limiter.get_window_stats(item, kind, who)
        except StorageError:
            return time.time() + item.get_expiry()
        return float(stats.reset_time)

    async def close(self) -> None:
        for storage in self._storages:
            bridge = getattr(storage, "bridge", None)
            conn = getattr(bridge, "storage", None)
            if conn is not None and hasattr(conn, "aclose"):
                await conn.aclose()
