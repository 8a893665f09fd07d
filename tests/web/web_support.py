"""The app under a real uvicorn on loopback, and seeded votes for leaderboard pages.

Also used by benchmarks/bench_web.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import ConsoleMessage, Page, Response
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp

from arena.app import create_app
from arena.battles.tables import Battle
from arena.db import session_scope, utcnow
from arena.leaderboard.loop import recompute_once
from arena.leaderboard.tables import LeaderboardSnapshot
from arena.models.service import OperatorModel, add_operator_model
from arena.settings import Settings
from arena.votes.tables import Vote
from serving.threaded import ThreadedServer

BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

# Most browser tests need one backend; the full battle also runs on PostgreSQL.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class LiveServer(ThreadedServer):
    """`create_app(settings)` served by uvicorn in a thread; the lifespan runs there too."""

    def __init__(
        self, settings: Settings, wrap: Callable[[ASGIApp], ASGIApp] | None = None
    ) -> None:
        self.settings = settings
        self.app = create_app(settings)
        super().__init__(
            wrap(self.app) if wrap else self.app,
            lifespan="on",
            ws="none",
            timeout_graceful_shutdown=2,
            startup_timeout=60,
            shutdown_timeout=30,
        )

    @property
    def sessionmaker(self) -> sessionmaker[Session]:
        factory: sessionmaker[Session] = self.app.state.sessionmaker
        return factory

    def stop(self) -> None:
        # The background loops sit idle between rounds in tests; cancel them rather than let
        # the lifespan wait out its grace period for loops that sleep without watching it.
        tasks = getattr(self.app.state, "tasks", None)
        for task in list(getattr(tasks, "_tasks", ())):
            task.get_loop().call_soon_threadsafe(task.cancel)
        super().stop()

    def recompute(self) -> int | None:
        return recompute_once(self.sessionmaker, self.settings)


SEED_MODELS = [
    ("Llama-3.1-8B", "Meta", "open", 1080.0),
    ("Qwen2.5-7B", "Alibaba", "open", 1060.0),
    ("Mistral-7B", "Mistral AI", "open", 1010.0),
    ("Gemma-2-9B", "Google", "open", 1040.0),
    ("Closed-Mini", "Example Corp", "proprietary", 990.0),
    ("Phi-3-mini", "Microsoft", "open", 950.0),
    ("TinyLlama-1.1B", "TinyLlama", "open", 870.0),
]


@dataclass
class Watch:
    """What a page did that it should not: dialogs, script errors, console errors."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


def watch(page: Page) -> Watch:
    watch = Watch()

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(msg: ConsoleMessage) -> None:
        # Failed loads are judged by on_response (a 404 page we asked for is fine).
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            watch.console.append(msg.text)

    def on_response(response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            watch.console.append(f"{response.status} {response.url}")

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
    page.on("console", on_console)
    page.on("response", on_response)
    return watch


@dataclass
class Tab:
    page: Page
    watch: Watch
    base: str

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def shot(self, name: str, *, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


def seed_models(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        for name, org, license, _ in SEED_MODELS:
            add_operator_model(
                session,
                OperatorModel(
                    name=name,
                    base_url="http://127.0.0.1:9/v1",
                    api_model=name.lower(),
                    license=license,
                    organization=org,
                ),
            )


def seed_votes(factory: sessionmaker[Session], n: int, rng: np.random.Generator) -> None:
    """`n` battles with votes drawn from a Bradley-Terry model of SEED_MODELS' strengths."""
    with session_scope(factory) as session:
        from arena.models.tables import ModelEndpoint

        ids = {
            m.name: m.id
            for m in session.query(ModelEndpoint).filter(
                ModelEndpoint.name.in_([s[0] for s in SEED_MODELS])
            )
        }
        strength = {name: rating for name, _, _, rating in SEED_MODELS}
        names = list(ids)
        for _ in range(n):
            a, b = rng.choice(len(names), size=2, replace=False)
            ma, mb = names[int(a)], names[int(b)]
            p_a = 1 / (1 + 10 ** ((strength[mb] - strength[ma]) / 400))
            u = rng.random()
            winner = "tie" if u < 0.08 else "bothbad" if u < 0.12 else None
            if winner is None:
                winner = "A" if rng.random() < p_a else "B"
            battle = Battle(
                id=secrets.token_hex(16),
                model_a_id=ids[ma],
                model_b_id=ids[mb],
                system_message="",
                client_hash="seed",
                ip_hash="seed",
                network_hash="seed",
                voted_at=utcnow(),
            )
            session.add(battle)
            session.flush()
            session.add(
                Vote(
                    battle_id=battle.id,
                    winner=winner,
                    model_a_id=ids[ma],
                    model_b_id=ids[mb],
                    turns=1,
                    client_hash="seed",
                    ip_hash="seed",
                    network_hash="seed",
                )
            )


def seed_history(
    server: LiveServer, rounds: int, votes_per_round: int, rng: np.random.Generator
) -> None:
    """Several snapshots, back-dated a day apart, so rating history has a shape."""
    seed_models(server.sessionmaker)
    for i in range(rounds):
        seed_votes(server.sessionmaker, votes_per_round, rng)
        snap = server.recompute()
        assert snap is not None
        with session_scope(server.sessionmaker) as session:
            session.execute(
                update(LeaderboardSnapshot)
                .where(LeaderboardSnapshot.id == snap)
                .values(computed_at=utcnow() - timedelta(days=rounds - 1 - i))
            )
