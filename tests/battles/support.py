"""Helpers for battle tests: fake backends, SSE parsing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from fastapi import FastAPI

from arena.db import session_scope
from arena.models.service import OperatorModel, add_operator_model
from arena.models.tables import ModelEndpoint
from serving.fakes import FakeModel, FakeServer


@dataclass
class Backends:
    alpha: FakeServer
    beta: FakeServer

    def by_name(self, name: str) -> FakeServer:
        return {"Alpha-7B": self.alpha, "Beta-3B": self.beta}[name]


@contextmanager
def fake_backends() -> Iterator[Backends]:
    """Two fake model servers on loopback, each with its fixed answer."""
    alpha = FakeServer(FakeModel(served_name="alpha-served", answer="Paris is the capital."))
    beta = FakeServer(FakeModel(served_name="beta-served", answer="The capital is Paris, yes."))
    with alpha, beta:
        yield Backends(alpha, beta)


def register(app: FastAPI, backends: Backends) -> None:
    with session_scope(app.state.sessionmaker) as session:
        for name, org, server in (
            ("Alpha-7B", "Alpha Labs", backends.alpha),
            ("Beta-3B", "Betacorp", backends.beta),
        ):
            m = add_operator_model(
                session,
                OperatorModel(
                    name=name,
                    base_url=server.base_url + "/v1",
                    api_model=server.model.served_name,
                    organization=org,
                    aliases=[org.split()[0]],
                ),
            )
            m.healthy = True


def set_healthy(app: FastAPI, name: str, healthy: bool) -> None:
    with session_scope(app.state.sessionmaker) as session:
        m = session.query(ModelEndpoint).filter_by(name=name).one()
        m.healthy = healthy


def parse_sse(raw: str) -> list[Any]:
    events = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        data = [line[6:] for line in block.split("\n") if line.startswith("data: ")]
        if data:
            text = "\n".join(data)
            events.append(text if text == "[DONE]" else orjson.loads(text))
    return events


async def send(client: httpx.AsyncClient, battle_id: str, content: str) -> httpx.Response:
    return await client.post(f"/api/v1/battles/{battle_id}/messages", json={"content": content})


def answers(events: list[Any]) -> dict[str, str]:
    out = {"A": "", "B": ""}
    for e in events:
        if isinstance(e, dict) and "delta" in e:
            out[e["side"]] += e["delta"]
    return out
