"""Categories and duplicate_prompt through the API, on SQLite and PostgreSQL; export, fit."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.db import session_scope
from arena.settings import Settings
from arena.votes.dedup import duplicate_prompt, normalise, prompt_hash
from arena.votes.tables import PromptCount, Vote, VoteExclusion
from ratings.fit import fit_file
from tests.battles.support import send

CODING = "Write a Python function that merges two sorted lists"
PROSE = "Tell me something interesting about octopuses"


async def battle(client: httpx.AsyncClient, *prompts: str, winner: str = "A") -> str:
    r = await client.post("/api/v1/battles", json={})
    assert r.status_code == 201, r.text
    battle_id = r.json()["battle_id"]
    for prompt in prompts:
        assert (await send(client, battle_id, prompt)).status_code == 200
    r = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": winner})
    assert r.status_code == 200, r.text
    return str(battle_id)


async def export(client: httpx.AsyncClient) -> list[dict[str, object]]:
    r = await client.get("/api/v1/exports/votes", params={"format": "jsonl"})
    assert r.status_code == 200
    return [orjson.loads(line) for line in r.content.splitlines()]


async def test_votes_carry_their_categories_into_the_export(
    arena: FastAPI, client: httpx.AsyncClient
) -> None:
    await battle(client, CODING)
    await battle(client, PROSE, "And what about squid? Are they related?")
    await battle(client, "Solve 3x - 7 = 11 for x")
    rows = await export(client)
    assert [r["categories"] for r in rows] == [
        "coding,lang:en",
        "lang:en,multi_turn",
        "lang:en,math",
    ]
    assert list(rows[0]).index("categories") == list(rows[0]).index("turns") + 1
    with session_scope(arena.state.sessionmaker) as s:
        assert [v.categories for v in s.scalars(select(Vote).order_by(Vote.id))] == [
            r["categories"] for r in rows
        ]
    csv = await client.get("/api/v1/exports/votes", params={"format": "csv"})
    assert csv.text.splitlines()[0].split(",")[7] == '"categories"'


async def test_a_prompt_keeps_its_first_votes_the_rest_are_duplicate_prompt(
    arena: FastAPI, client: httpx.AsyncClient
) -> None:
    await battle(client, PROSE)
    # Same first message up to case and spaces: one prompt.
    for text in ("Hello there", "hello   there", "HELLO THERE", "Hello there"):
        await battle(client, text)
    rows = await export(client)
    assert [r["included"] for r in rows] == [True, True, True, False, False]
    assert [r["exclusion_reason"] for r in rows] == ["", "", "", *["duplicate_prompt"] * 2]
    with session_scope(arena.state.sessionmaker) as s:
        ledger = s.scalars(select(VoteExclusion).order_by(VoteExclusion.vote_id)).all()
        assert [e.reason for e in ledger] == ["duplicate_prompt"] * 2
        assert ledger[0].detail.startswith("vote 3 on a prompt among the top 50.00% of 2 prompts")
        assert "keeps its first 2" in ledger[0].detail
        counts = {h: n for h, n in s.execute(select(PromptCount.prompt_hash, PromptCount.votes))}
        assert counts == {prompt_hash("hello there"): 4, prompt_hash(PROSE): 1}


def test_the_cap_is_the_larger_of_the_setting_and_the_top_share_cut_off(
    session: Session, settings: Settings
) -> None:
    settings = settings.model_copy(update={"dedup_max_votes": 3, "dedup_top_share": 0.25})
    # Seven prompts while "popular" is voted on: the top quarter is one prompt, and the
    # cut-off is the votes of the second (5).
    for k in range(6):
        for _ in range(5):
            assert duplicate_prompt(session, settings, f"common prompt {k}") is None
    hits = [duplicate_prompt(session, settings, "popular") for _ in range(8)]
    assert duplicate_prompt(session, settings, "rare one") is None
    assert duplicate_prompt(session, settings, "rare two") is None
    # While "popular" is not above the cut-off (5 votes of the other prompts), it keeps votes.
    assert [h is None for h in hits] == [True] * 5 + [False] * 3
    assert str(hits[5]) == (
        "vote 6 on a prompt among the top 25.00% of 7 prompts by votes (cut-off 5 votes); "
        "a prompt keeps its first 5"
    )
    # A small arena (fewer prompts than 1/share) has no duplicates above the setting's cap.
    few = settings.model_copy(update={"dedup_top_share": 0.01})
    assert all(duplicate_prompt(session, few, "popular") is None for _ in range(5))


def test_normalised_prompt() -> None:
    assert normalise("  \uff28ello\n\tWORLD  ")  # a fullwidth H == "hello world"
    assert prompt_hash("Hello World") == prompt_hash("hello  world")
    assert prompt_hash("Hello World") != prompt_hash("Hello World!")


async def test_fit_category_reproduces_a_category_only_fit(
    arena: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    plan = [
        (CODING, "A"),
        ("Why does my Java program throw a NullPointerException?", "B"),
        ("How do I reverse a string in JavaScript?", "A"),
        (PROSE, "B"),
        ("What should I cook tonight with leeks?", "tie"),
    ]
    for prompt, winner in plan:
        await battle(client, prompt, winner=winner)
    rows = await export(client)
    path = tmp_path / "votes.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    only = tmp_path / "coding.jsonl"
    coding = [r for r in rows if "coding" in str(r["categories"]).split(",")]
    assert len(coding) == 3
    only.write_bytes(
        b"".join(
            orjson.dumps({k: r[k] for k in ("model_a", "model_b", "winner")}) + b"\n"
            for r in coding
        )
    )
    args = dict(anchor=None, ci="sandwich", rounds=10, seed=0, prior=1.0)
    want = fit_file(only, style=False, **args)  # type: ignore[arg-type]
    assert fit_file(path, style=False, category="coding", **args) == want  # type: ignore[arg-type]
    assert fit_file(path, style=False, **args) != want  # type: ignore[arg-type]
    out = fit_cli(path, "--prior", "1", "--category", "coding")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == json.loads(json.dumps(want))


def fit_cli(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    return subprocess.run(
        [sys.executable, "-m", "arena", "ratings", "fit", str(path), "--json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_fit_view_style_and_bad_arguments(tmp_path: Path) -> None:
    path = tmp_path / "votes.jsonl"
    rng = random.Random(7)
    pairs = [("x", "y"), ("y", "z"), ("x", "z")]
    winners = ["model_a", "model_b", "tie"]
    tags = ["coding", "coding,math", "", "math"]
    lines = []
    for k in range(24):
        a, b = pairs[k % 3]
        row: dict[str, object] = {"model_a": a, "model_b": b, "winner": winners[k % 3 - (k % 2)]}
        row["categories"] = tags[k % 4]
        for stem in ("sum_assistant_tokens", "header_count", "list_count", "bold_count"):
            row |= {f"{stem}_a": rng.randint(0, 300), f"{stem}_b": rng.randint(0, 300)}
        lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n")
    style = fit_cli(path, "--prior", "1", "--style")
    view = fit_cli(path, "--prior", "1", "--view", "style")
    assert style.returncode == 0, style.stderr
    assert style.stdout == view.stdout
    math = fit_cli(path, "--prior", "1", "--category", "math")
    # Rows k = 1, 3 (mod 4) hold math: 12 of the 24, over every pair.
    assert sum(r["battles"] for r in json.loads(math.stdout)) == 2 * 12
    for bad, message in (
        (["--category", "lang:xx"], "no included battle in category 'lang:xx'"),
        (["--category", "a,b"], "--category must be one tag without commas"),
        (["--view", "fancy"], "--view must be one of default, style"),
        (["--view", "default", "--style"], "--view default contradicts --style"),
    ):
        r = fit_cli(path, "--prior", "1", *bad)
        assert r.returncode == 1 and message in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    plain = tmp_path / "plain.jsonl"
    plain.write_text('{"model_a":"x","model_b":"y","winner":"model_a"}\n')
    r = fit_cli(plain, "--category", "math")
    assert r.returncode == 1 and "no 'categories' column (needed by --category)" in r.stderr
