"""The `arena` command as a user runs it: one line of error, non-zero exit, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import get_args

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
    table = arena("models", "list", db=database_url).stdout.split()
    assert table[1:4] == ["Tiny", "approved", "unhealthy"]


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


def test_every_command_is_listed() -> None:
    proc = arena("--help", db="sqlite://")
    assert proc.returncode == 0, proc.stderr
    for command in ("serve", "export", "demo", "db", "models", "ratings", "fleet"):
        assert f" {command} " in proc.stdout


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys; from arena.cli import app; "
        "print(sorted(m for m in ('sqlalchemy', 'numpy', 'fastapi') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_choices_match_the_product() -> None:
    from arena.cli import common
    from arena.exports.service import FORMATS, SOURCES
    from arena.models.tables import LICENSES
    from ratings.leaderboard import CiMethod

    assert get_args(common.Format) == FORMATS
    assert get_args(common.ExportKind) == tuple(SOURCES)
    assert get_args(common.CiMethod) == get_args(CiMethod)
    assert get_args(common.License) == LICENSES


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("ratings", "fit", "battles.jsonl", "--ci", "wide"), "--ci must be one of none, sandwich"),
        (("export", "dumps"), "KIND must be one of votes, preferences, snapshots"),
        (("export", "votes", "--format", "xlsx"), "--format must be one of jsonl, csv, parquet"),
    ],
)
def test_bad_choice_is_one_line(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    proc = arena(*args, db=f"sqlite:///{tmp_path / 'x.db'}")
    assert proc.returncode == 1
    assert_one_line_error(proc, needle)


def test_ratings_fit_json_or_table(tmp_path: Path) -> None:
    path = tmp_path / "battles.jsonl"
    rows = [("A", "B", "model_a"), ("A", "B", "model_b"), ("A", "B", "model_a")]
    rows += [("B", "C", "model_a"), ("C", "B", "model_a"), ("A", "C", "tie")]
    path.write_text(
        "".join(json.dumps({"model_a": a, "model_b": b, "winner": w}) + "\n" for a, b, w in rows)
    )
    as_json = arena("ratings", "fit", str(path), "--json", db="sqlite://")
    assert as_json.returncode == 0, as_json.stderr
    board = json.loads(as_json.stdout)
    assert [r["model"] for r in board] == ["A", "C", "B"]
    assert set(board[0]) == {"model", "rating", "ci_low", "ci_high", "rank", "rank_ub", "battles"}
    table = arena("ratings", "fit", str(path), "--ci", "none", db="sqlite://")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["rank", "model", "rating", "ci_low", "ci_high", "battles"]
    assert [line.split()[:2] for line in lines[1:]] == [["1", "A"], ["2", "C"], ["3", "B"]]
    assert lines[1].split()[3:5] == ["-", "-"]
