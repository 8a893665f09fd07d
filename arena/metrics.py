"""Operator metrics (Prometheus) on their own loopback port, never on the public one."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.metrics import ServingMetrics
from serving.metrics import make_metrics as make_serving_metrics


@dataclass
class AppMetrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    votes: Counter
    battles: Counter
    serving: ServingMetrics


def make_metrics() -> AppMetrics:
    registry = CollectorRegistry(auto_describe=True)
    return AppMetrics(
        registry=registry,
        requests=Counter(
            "arena_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=registry,
        ),
        latency=Histogram(
            "arena_http_request_seconds",
            "HTTP request time",
            ["route"],
            registry=registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        ),
        votes=Counter("arena_votes", "Votes recorded", ["included"], registry=registry),
        battles=Counter("arena_battles", "Battles created", registry=registry),
        serving=make_serving_metrics(registry),
    )


def serve_metrics(metrics: AppMetrics, host: str, port: int) -> Any:
    """Start the exporter thread; returns (server, thread) for shutdown."""
    return start_http_server(port, addr=host, registry=metrics.registry)


class RequestMetricsMiddleware:
    """Counts requests and times them per route template (never per raw path)."""

    def __init__(self, app: ASGIApp, metrics: AppMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
