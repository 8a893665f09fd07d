"""Shared hypothesis settings: few examples, no deadline, the same examples on every run."""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def props(examples: int) -> settings:
    """Settings for one property; ``derandomize`` and no database keep CI reproducible."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
