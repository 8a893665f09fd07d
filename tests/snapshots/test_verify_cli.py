"""`arena snapshots verify ID FILE`: exit 0 only when the digest and every row agree."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from fastapi import FastAPI

from arena.db import session_scope
from arena.leaderboard.loop import recompute_once
from tests.snapshots.support import download, run_arena, seed_votes


async def snapshot_file(
    app: FastAPI, client: httpx.AsyncClient, tmp: Path, fmt: str
) -> tuple[int, Path]:
    with session_scope(app.state.sessionmaker) as s:
        seed_votes(s, 90)
    snap = recompute_once(app.state.sessionmaker, app.state.settings)
    assert snap is not None
    path = tmp / f"votes.{fmt}"
    path.write_bytes(await download(client, snap, fmt))
    return snap, path


async def test_verify_accepts_the_download_and_skips_the_digest_of_csv(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    snap, path = await snapshot_file(app, client, tmp_path, "jsonl")
    ok = run_arena("snapshots", "verify", str(snap), str(path), db=database_url)
    assert ok.returncode == 0, ok.stderr
    assert "sha256" in ok.stdout and "matches" in ok.stdout
    csv = tmp_path / "votes.csv"
    csv.write_bytes(await download(client, snap, "csv"))
    ok = run_arena("snapshots", "verify", str(snap), str(csv), db=database_url)
    assert ok.returncode == 0, ok.stderr
    assert "sha256 not checked" in ok.stdout


async def test_verify_names_what_a_tampered_file_changed(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    snap, path = await snapshot_file(app, client, tmp_path, "jsonl")
    lines = path.read_bytes().splitlines()
    row = json.loads(lines[0])
    flipped = {"model_a": "model_b", "model_b": "model_a"}.get(row["winner"], "model_a")
    lines[0] = json.dumps({**row, "winner": flipped}).encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    bad = run_arena("snapshots", "verify", str(snap), str(path), db=database_url)
    assert bad.returncode == 1
    assert "do not match" in bad.stderr.splitlines()[0]
    assert "sha256: file" in bad.stderr
    assert f"model {row['model_a']!r}: rating snapshot" in bad.stderr


async def test_verify_refuses_unknown_snapshots_and_missing_files(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    snap, path = await snapshot_file(app, client, tmp_path, "jsonl")
    unknown = run_arena("snapshots", "verify", "999", str(path), db=database_url)
    assert unknown.returncode == 1 and unknown.stderr.strip() == "error: no snapshot 999"
    missing = run_arena(
        "snapshots", "verify", str(snap), str(tmp_path / "no.jsonl"), db=database_url
    )
    assert missing.returncode == 1 and missing.stderr.strip().startswith("error: no such file")
    other = tmp_path / "other.jsonl"
    other.write_text('{"model_a": "X", "model_b": "Y", "winner": "tie"}\n')
    wrong = run_arena("snapshots", "verify", str(snap), str(other), db=database_url)
    assert wrong.returncode == 1 and "in the snapshot, not in the refit" in wrong.stderr
