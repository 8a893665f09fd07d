"""Rate limits on the `limits` library: in-process by default, Redis (shared by every API
replica) when ARENA_REDIS_URL is set."""

from __future__ import annotations

import math
import time
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from arena.errors import ArenaError
from arena.settings import Settings


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        if settings.redis_url:
            uri = settings.redis_url.replace("redis://", "async+redis://", 1)
            self._storage: Any = storage_from_string(
                uri, implementation="redispy", key_prefix="arena-limits"
            )
        else:
            self._storage = storage_from_string("async+memory://")
        # Sliding-window counters: two counters per key instead of a timestamp list per key,
        # which the moving window re-sweeps after every hit.
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        self.items: dict[str, RateLimitItem] = {
            "battles": parse(settings.rate_limit_battles),
            "votes": parse(settings.rate_limit_votes),
            "owners": parse(settings.rate_limit_owners),
        }

    async def hit(self, kind: str, *identity: str) -> None:
        """Count one request for each identity (client, address); 429 if any is over."""
        item = self.items[kind]
        for who in identity:
            if not await self._limiter.hit(item, kind, who):
                stats = await self._limiter.get_window_stats(item, kind, who)
                retry = max(1, math.ceil(stats.reset_time - time.time()))
                raise ArenaError(
                    429,
                    "rate_limited",
                    f"too many {kind} requests; try again in {retry} s",
                    headers={"Retry-After": str(retry)},
                )

    async def close(self) -> None:
        bridge = getattr(self._storage, "bridge", None)
        conn = getattr(bridge, "storage", None)
        if conn is not None and hasattr(conn, "aclose"):
            await conn.aclose()
