"""Operator metrics (Prometheus) on their own loopback port, never on the public one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server


@dataclass
class AppMetrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    votes: Counter
    battles: Counter


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
    )


def serve_metrics(metrics: AppMetrics, host: str, port: int) -> Any:
    """Start the exporter thread; returns (server, thread) for shutdown."""
    return start_http_server(port, addr=host, registry=metrics.registry)
