"""One turn of a battle as one SSE stream: both sides concurrently, re-labelled A and B.

Only text deltas, finish reasons and generic error messages leave this module: no model
name, response id, fingerprint, timing header or URL. The second side's `done` event is sent
only after the turn is stored, so a client that has seen both `done` events can vote at once.
Both sides start when the stream is made, before the turn is written (arena/battles/turns.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import orjson

from arena.battles.turns import SidePlan, SideResult, TurnPlan
from arena.db import utcnow
from arena.requestid import upstream_headers
from serving.client import BackendError, Done, Finish, TextDelta, stream_chat
from serving.metrics import ServingMetrics

log = logging.getLogger("arena.battles")

FINISH_REASONS = {"stop", "length", "content_filter"}
DISCONNECTED = "the connection closed before the answer finished"


def sse(payload: dict[str, Any] | str) -> dict[str, str]:
    data = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
    return {"data": data}


Event = tuple[str, dict[str, Any] | None]


@dataclass
class _Turn:
    """What both sides of one turn share: the event queue, their results, the sampling."""

    max_tokens: int
    temperature: float
    metrics: ServingMetrics | None
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    results: dict[str, SideResult] = field(default_factory=dict)

    async def run_side(self, client: httpx.AsyncClient, plan: SidePlan) -> None:
        """Stream one side into the queue; its result is filled in as it goes."""
        side = plan.side
        parts: list[str] = []
        started = time.monotonic()
        result = SideResult(content="", ok=False, error=DISCONNECTED)
        self.results[side] = result
        try:
            async for event in stream_chat(
                client,
                plan.endpoint,
                plan.messages,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                headers=upstream_headers(side),
            ):
                if isinstance(event, TextDelta):
                    if event.text:
                        parts.append(event.text)
                        result.content = "".join(parts)
                        await self.queue.put((side, {"side": side, "delta": event.text}))
                elif isinstance(event, Finish):
                    reason = event.reason if event.reason in FINISH_REASONS else "stop"
                    result.finish_reason = reason
                elif isinstance(event, Done):
                    self._finished(plan, result, event, started)
            if not result.ok:
                raise BackendError("eof", "stream ended without a final event")
        except BackendError as exc:
            log.warning("side %s failed: %s (%s)", side, exc.kind, exc.detail)
            if self.metrics is not None:
                self.metrics.observe_error(plan.label, exc)
            result.ok, result.error = False, exc.message
            result.duration_ms = (time.monotonic() - started) * 1000
        finally:
            await self.queue.put((side, None))

    def _finished(self, plan: SidePlan, result: SideResult, done: Done, started: float) -> None:
        stats = done.stats
        result.ok, result.error = True, None
        result.prompt_tokens = stats.prompt_tokens
        result.completion_tokens = stats.output_tokens
        result.ttft_ms = None if stats.ttft is None else stats.ttft * 1000
        result.duration_ms = (time.monotonic() - started) * 1000
        result.finished_at = utcnow()
        if self.metrics is not None:
            self.metrics.observe_stream(plan.label, stats)


class TurnStream:
    """Both sides of one turn, streaming from the moment it is made (before the response
    starts, so the model servers work while the turn is written); `events` relays them."""

    def __init__(
        self,
        clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
        plan: TurnPlan,
        *,
        max_tokens: int,
        temperature: float,
        metrics: ServingMetrics | None = None,
    ) -> None:
        """`clients` is (trusted, guarded): owner endpoints use the SSRF-guarded one."""
        self.plan = plan
        self._turn = _Turn(max_tokens, temperature, metrics)
        self._tasks = [
            asyncio.create_task(
                self._turn.run_side(clients[1] if s.guarded else clients[0], s),
                name=f"battle-{plan.battle_id}-{s.side}",
            )
            for s in plan.sides
        ]

    async def cancel(self) -> None:
        """Stop both sides (the turn was not written); nothing is stored."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def events(
        self, persist: Callable[[dict[str, SideResult]], Any]
    ) -> AsyncIterator[dict[str, str]]:
        """SSE events for the turn; `persist(results)` (async) stores the outcome once."""
        plan, tasks = self.plan, self._tasks
        queue, results = self._turn.queue, self._turn.results
        pending = {s.side for s in plan.sides}
        stored = False
        try:
            while pending:
                side, payload = await queue.get()
                if payload is not None:
                    yield sse(payload)
                    continue
                pending.discard(side)
                if pending:
                    yield sse(_closing_event(side, results[side]))
                    continue
                await persist(results)
                stored = True
                yield sse(_closing_event(side, results[side]))
            yield sse("[DONE]")
        finally:
            for task in tasks:
                task.cancel()
            if not stored:
                # The voter went away (or we are shutting down): the turn must not stay
                # "streaming" forever. Whatever finished is kept; the rest is marked failed.
                with anyio.CancelScope(shield=True):
                    await asyncio.gather(*tasks, return_exceptions=True)
                    for s in plan.sides:
                        res = results.setdefault(s.side, SideResult(content="", ok=False))
                        if not res.ok:
                            res.error = res.error or DISCONNECTED
                    await persist(results)


def _closing_event(side: str, result: SideResult) -> dict[str, Any]:
    if result.ok:
        return {"side": side, "done": True, "finish_reason": result.finish_reason or "stop"}
    return {"side": side, "error": {"message": result.error or "the model failed to answer"}}
