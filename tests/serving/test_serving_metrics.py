"""Metrics live on the registry they are given, nowhere else."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from serving.client import BackendError, StreamStats
from serving.metrics import make_metrics
from serving.probes import ProbeResult


def test_metrics_on_own_registry() -> None:
    registry = CollectorRegistry()
    metrics = make_metrics(registry)
    stats = StreamStats(started=0.0, first_token=0.25, last_token=1.25, ended=1.3, deltas=11)
    metrics.observe_stream("SmolLM2", stats)
    metrics.observe_error("Qwen", BackendError("eof", "x", stats=stats))
    metrics.observe_probe("Qwen", ProbeResult(False, "down", 12.0))
    get = registry.get_sample_value
    assert get("arena_backend_ttft_seconds_count", {"endpoint": "SmolLM2"}) == 1
    assert get("arena_backend_ttft_seconds_sum", {"endpoint": "SmolLM2"}) == 0.25
    assert get("arena_backend_tokens_per_second_sum", {"endpoint": "SmolLM2"}) == 10.0
    assert get("arena_backend_output_tokens_total", {"endpoint": "SmolLM2"}) == 11
    assert get("arena_backend_stream_errors_total", {"endpoint": "Qwen", "kind": "eof"}) == 1
    assert get("arena_backend_streams_total", {"endpoint": "Qwen"}) == 1
    assert get("arena_backend_healthy", {"endpoint": "Qwen"}) == 0
    assert b"arena_backend_probe_seconds" in generate_latest(registry)
    assert REGISTRY.get_sample_value("arena_backend_streams_total", {"endpoint": "Qwen"}) is None
    # A second set on another registry does not clash.
    make_metrics(CollectorRegistry())
