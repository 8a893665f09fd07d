"""The `arena` command as a user runs it: one line of error, non-zero exit, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def arena(
    *args: str, db: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env["ARENA_DATABASE_URL"] = db
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "arena", *args], capture_output=True, text=True, env=env, timeout=120
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert needle in lines[0]


def test_malformed_database_url() -> None:
    proc = arena("models", "list", db="not a url at all")
    assert_one_line_error(proc, "ARENA_DATABASE_URL")


def test_unsupported_database() -> None:
    assert_one_line_error(arena("db", "upgrade", db="mysql://x@localhost/db"), "unsupported")


def test_unreachable_database() -> None:
    proc = arena("db", "upgrade", db="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert_one_line_error(proc, "cannot reach the database")


def test_unmigrated_database(tmp_path: Path) -> None:
    proc = arena("models", "list", db=f"sqlite:///{tmp_path / 'new.db'}")
    assert_one_line_error(proc, "database not migrated: run `arena db upgrade`")


def test_invalid_setting(tmp_path: Path) -> None:
    proc = arena(
        "models",
        "list",
        db=f"sqlite:///{tmp_path / 'x.db'}",
        extra_env={"ARENA_MIN_READ_SECONDS": "soon"},
    )
    assert_one_line_error(proc, "ARENA_MIN_READ_SECONDS")


def test_models_add_list_and_duplicate(database_url: str) -> None:
    assert arena("db", "upgrade", db=database_url).returncode == 0
    add = (
        "models",
        "add",
        "--name",
        "Tiny",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--api-model",
        "tiny",
        "--organization",
        "Acme",
        "--license",
        "open",
    )
    first = arena(*add, db=database_url)
    assert first.returncode == 0, first.stderr
    assert "approved" in first.stdout
    assert "health: failing" in first.stdout  # nothing listens on port 9
    assert_one_line_error(arena(*add, db=database_url), "already exists")
    listed = arena("models", "list", "--json", db=database_url)
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["status"], r["organization"]) for r in rows] == [
        ("Tiny", "approved", "Acme")
    ]


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--license", "gratis", "license must be one of"),
        ("--base-url", "ftp://x/v1", "http(s) URL"),
    ],
)
def test_models_add_rejects_bad_fields(
    database_url: str, flag: str, value: str, needle: str
) -> None:
    args = {"--name": "M", "--base-url": "http://127.0.0.1:9/v1", "--api-model": "m"}
    args[flag] = value
    flat = [x for kv in args.items() for x in kv]
    assert_one_line_error(arena("models", "add", *flat, db=database_url), needle)
