"""The fault tests run the app without rate limits in the way: they count votes, not 429s
(the Redis test sets its own limits)."""

from __future__ import annotations

import pytest

from arena.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"rate_limit_battles": "100000/hour", "rate_limit_votes": "100000/hour"}
    )
