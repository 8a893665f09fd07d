"""Battles against the fake backends of tests/battles, with a small de-duplication cap."""

from __future__ import annotations

import pytest

from arena.settings import Settings
from tests.battles.conftest import arena, backends

__all__ = ["arena", "backends"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Every prompt is in the top half by votes in these small arenas; each keeps 2 votes.
    return settings.model_copy(update={"dedup_max_votes": 2, "dedup_top_share": 0.5})
