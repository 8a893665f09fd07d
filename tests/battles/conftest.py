"""Battles against two fake model servers on loopback (real HTTP, real SSE)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI

from serving.client import make_http_client
from tests.battles.support import Backends, fake_backends, register


@pytest.fixture
def backends() -> Iterator[Backends]:
    with fake_backends() as both:
        yield both


@pytest.fixture
async def arena(app: FastAPI, backends: Backends) -> AsyncIterator[FastAPI]:
    register(app, backends)
    # Short read timeout so a stalled backend fails the side within the test.
    await app.state.http.aclose()
    app.state.http = make_http_client(read=2.0)
    yield app
