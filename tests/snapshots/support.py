"""Seeding votes straight into the database, the CLI in a subprocess, downloads to files."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.battles.tables import Battle
from arena.db import utcnow
from arena.models.service import OperatorModel, add_operator_model
from arena.models.tables import ModelEndpoint
from arena.votes.service import exclude
from arena.votes.tables import Vote

STRENGTH = {"Alpha-7B": 1.0, "Beta-3B": 0.4, "Gamma-1B": -0.5}
FLOATS = ("rating", "ci_low", "ci_high")
EXACT = ("rank", "rank_ub", "battles")


def add_models(session: Session, names: list[str] | None = None) -> dict[str, int]:
    ids = {}
    for name in names or list(STRENGTH):
        ids[name] = add_operator_model(
            session,
            OperatorModel(
                name=name,
                base_url="http://127.0.0.1:9/v1",
                api_model=name,
                organization=name.split("-")[0],
            ),
        ).id
    return ids


def model_ids(session: Session) -> dict[str, int]:
    return {n: i for i, n in session.execute(select(ModelEndpoint.id, ModelEndpoint.name))}


def new_vote(session: Session, ids: dict[str, int], key: str, a: str, b: str, winner: str) -> Vote:
    """A voted battle as cast_vote leaves it (flushed, not committed)."""
    battle = Battle(
        id=key.rjust(32, "0"),
        model_a_id=ids[a],
        model_b_id=ids[b],
        system_message="s",
        client_hash=f"c{key}",
        ip_hash="i",
        network_hash="n",
    )
    session.add(battle)
    session.flush()
    vote = Vote(
        battle_id=battle.id,
        winner=winner,
        model_a_id=ids[a],
        model_b_id=ids[b],
        turns=1,
        client_hash=f"c{key}",
        ip_hash="i",
        network_hash="n",
        read_seconds=10.0,
        created_at=utcnow(),
        a_tokens=len(key) * 7 % 300,
        b_tokens=len(key) * 11 % 300,
    )
    session.add(vote)
    session.flush()
    return vote


def seed_votes(session: Session, n: int, *, seed: int = 7, tag: str = "s") -> list[Vote]:
    """``n`` votes among the STRENGTH models (added if missing); every 17th is excluded."""
    rng = random.Random(seed)
    ids = model_ids(session) or add_models(session)
    votes = []
    for k in range(n):
        a, b = rng.sample(list(STRENGTH), 2)
        u = rng.random()
        p_a = 1 / (1 + 10 ** (STRENGTH[b] - STRENGTH[a]))
        winner = "tie" if u < 0.1 else "bothbad" if u < 0.15 else "A" if rng.random() < p_a else "B"
        vote = new_vote(session, ids, f"{tag}{k}", a, b, winner)
        if k % 17 == 0:
            exclude(session, vote, "too_fast", "test")
        votes.append(vote)
    return votes


def run_arena(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env["ARENA_DATABASE_URL"] = db
    return subprocess.run(
        [sys.executable, "-m", "arena", *args], capture_output=True, text=True, env=env, timeout=120
    )


async def download(client: httpx.AsyncClient, snapshot_id: int, fmt: str) -> bytes:
    r = await client.get(f"/api/v1/snapshots/{snapshot_id}/votes", params={"format": fmt})
    assert r.status_code == 200, r.text
    return r.content


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def jsonl_rows(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines()]


def assert_same_rows(refit: list[dict[str, Any]], board: list[dict[str, Any]]) -> None:
    """The contract: rating and interval to 1e-6, rank, rank_ub and battles exactly."""
    assert [r["model"] for r in refit] == [m["model"] for m in board]
    for got, want in zip(refit, board, strict=True):
        for key in EXACT:
            assert got[key] == want[key], (got["model"], key)
        for key in FLOATS:
            assert abs(got[key] - want[key]) <= 1e-6, (got["model"], key, got[key], want[key])


def fit_file(path: Path, fit_args: list[str], db: str) -> list[dict[str, Any]]:
    proc = run_arena("ratings", "fit", str(path), "--json", *fit_args, db=db)
    assert proc.returncode == 0, proc.stderr
    rows: list[dict[str, Any]] = json.loads(proc.stdout)
    return rows
