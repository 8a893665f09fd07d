"""Serving fixtures: real CPU vLLM servers once per session (marker ``vllm``), fake servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from serving.client import make_http_client
from serving.fakes import FakeModel, FakeServer
from serving.testing import RunningFleet, shared_fleet


@pytest.fixture(scope="session")
def vllm_fleet() -> Iterator[RunningFleet]:
    """The two CPU demo servers (8101, 8102), shared with other test sessions."""
    with shared_fleet() as fleet:
        yield fleet


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    with FakeServer(FakeModel()) as server:
        yield server


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_http_client(read=5.0) as client:
        yield client
