"""Two fake model servers on loopback for tests that vote through the API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI

from tests.battles.support import Backends, fake_backends, register


@pytest.fixture
def backends() -> Iterator[Backends]:
    with fake_backends() as both:
        yield both


@pytest.fixture
async def arena(app: FastAPI, backends: Backends) -> AsyncIterator[FastAPI]:
    register(app, backends)
    yield app
