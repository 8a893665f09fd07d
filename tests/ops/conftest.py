"""Two fake model servers on loopback, registered in the app, for the operations tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI

from serving.fakes import FakeModel, FakeServer
from tests.battles.support import Backends, register


@pytest.fixture
def backends() -> Iterator[Backends]:
    alpha = FakeServer(FakeModel(served_name="alpha-served", answer="Paris is the capital."))
    beta = FakeServer(FakeModel(served_name="beta-served", answer="The capital is Paris, yes."))
    with alpha, beta:
        yield Backends(alpha, beta)


@pytest.fixture
async def arena(app: FastAPI, backends: Backends) -> AsyncIterator[FastAPI]:
    register(app, backends)
    yield app
