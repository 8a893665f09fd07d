"""ARENA_SECRET_KEY unset: a key file beside SQLite that survives restarts, a refusal on
PostgreSQL."""

from __future__ import annotations

import os
import shutil
import stat
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from subprocess import CompletedProcess

import httpx
import pytest
from fastapi import FastAPI

from arena.app import create_app
from arena.crypto import api_key_from_ref, seal_api_key
from arena.secret_key import REQUIRED_MESSAGE, SecretKeyError, load_or_create, resolve_secret_key
from arena.settings import Settings, UnresolvedKey
from serving.fakes import FakeModel, FakeServer
from tests.battles.support import Backends, parse_sse, register
from tests.conftest import PG_URL
from tests.replicas.support import arena_cli, assert_one_line_error


@pytest.fixture(autouse=True)
def _no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARENA_SECRET_KEY", raising=False)


@pytest.fixture
def db_path(tmp_path: Path, sqlite_template: Path) -> Path:
    path = tmp_path / "arena.db"
    shutil.copyfile(sqlite_template, path)
    return path


@pytest.fixture
def backends() -> Iterator[Backends]:
    alpha = FakeServer(FakeModel(served_name="alpha-served", answer="Paris."))
    beta = FakeServer(FakeModel(served_name="beta-served", answer="It is Paris."))
    with alpha, beta:
        yield Backends(alpha, beta)


def unset_key_settings(db_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{db_path}", health_interval_seconds=3600, recompute_seconds=3600
    )


def arena(*args: str, db: str, extra_env: dict[str, str] | None = None) -> CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    return arena_cli(*args, env={**env, "ARENA_DATABASE_URL": db, **(extra_env or {})})


@asynccontextmanager
async def running(
    settings: Settings, cookies: httpx.Cookies
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 41000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", cookies=cookies
        ) as client:
            yield app, client


def test_unset_key_is_unresolved_until_resolved(db_path: Path) -> None:
    settings = unset_key_settings(db_path)
    assert isinstance(settings.secret_key, UnresolvedKey)
    with pytest.raises(RuntimeError, match="not resolved"):
        settings.secret_key.get_secret_value()
    assert not (db_path.parent / "arena.db.key").exists()  # nothing happens on construction
    key = resolve_secret_key(settings)
    assert settings.secret_key is key and len(key.get_secret_value()) >= 32


def test_the_key_file_is_0600_beside_the_database_and_read_again(db_path: Path) -> None:
    first = resolve_secret_key(unset_key_settings(db_path)).get_secret_value()
    path = db_path.with_name("arena.db.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == first
    again = resolve_secret_key(unset_key_settings(db_path)).get_secret_value()
    assert again == first
    assert [p.name for p in db_path.parent.iterdir() if p.name.startswith(".")] == []


def test_a_configured_key_wins_and_writes_no_file(db_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{db_path}", secret_key="configured-key-0123456")  # type: ignore[arg-type]
    assert resolve_secret_key(settings).get_secret_value() == "configured-key-0123456"
    assert not db_path.with_name("arena.db.key").exists()


def test_processes_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "race.db.key"
    barrier = threading.Barrier(8)
    keys: list[str] = []

    def start() -> None:
        barrier.wait()
        keys.append(load_or_create(path))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.db.key"]


def test_in_memory_sqlite_gets_a_key_of_its_own_process(tmp_path: Path) -> None:
    a, b = Settings(database_url="sqlite://"), Settings(database_url="sqlite:///:memory:")
    assert resolve_secret_key(a) != resolve_secret_key(b)
    assert list(tmp_path.iterdir()) == []


def test_a_key_file_open_to_others_is_refused_not_repaired(db_path: Path) -> None:
    path = db_path.with_name("arena.db.key")
    path.write_text("x" * 43 + "\n")
    path.chmod(0o644)
    with pytest.raises(SecretKeyError, match=r"mode 0644, expected 0600.*chmod 600"):
        resolve_secret_key(unset_key_settings(db_path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    proc = arena("serve", "--port", "1", db=f"sqlite:///{db_path}")
    assert_one_line_error(proc, "open to other users")


def test_an_empty_key_file_is_refused(db_path: Path) -> None:
    path = db_path.with_name("arena.db.key")
    path.write_text("\n")
    path.chmod(0o600)
    with pytest.raises(SecretKeyError, match="no usable key"):
        resolve_secret_key(unset_key_settings(db_path))


def test_an_empty_configured_key_is_an_invalid_setting(db_path: Path) -> None:
    proc = arena("serve", db=f"sqlite:///{db_path}", extra_env={"ARENA_SECRET_KEY": " "})
    assert_one_line_error(proc, "invalid setting ARENA_SECRET_KEY")


def test_postgres_without_a_key_is_refused_by_serve_and_demo() -> None:
    for command in ("serve", "demo"):
        proc = arena(command, db=PG_URL)
        assert proc.returncode == 1
        assert_one_line_error(proc, REQUIRED_MESSAGE)


async def test_postgres_without_a_key_is_refused_by_the_lifespan() -> None:
    app = create_app(Settings(database_url=PG_URL))
    with pytest.raises(SecretKeyError, match="required with PostgreSQL"):
        async with app.router.lifespan_context(app):
            pass


async def test_a_restart_keeps_cookies_valid_and_sealed_keys_openable(
    db_path: Path, backends: Backends
) -> None:
    jar = httpx.Cookies()
    async with running(unset_key_settings(db_path), jar) as (app, before):
        register(app, backends)
        created = await before.post("/api/v1/battles", json={})
        assert created.status_code == 201, created.text
        battle = created.json()["battle_id"]
        sealed = seal_api_key(app.state.settings.secret_key, "sk-owner-123")
        jar = before.cookies

    # a new process: new Settings, nothing carried over but the files
    async with running(unset_key_settings(db_path), jar) as (app, after):
        r = await after.post(f"/api/v1/battles/{battle}/messages", json={"content": "Capital?"})
        assert r.status_code == 200, r.text
        events = parse_sse(r.text)
        assert events[-1] == "[DONE]"
        assert {e["side"] for e in events if isinstance(e, dict) and e.get("done")} == {"A", "B"}
        assert api_key_from_ref(app.state.settings.secret_key, sealed) == "sk-owner-123"

    # the control: under another key the same cookie is a stranger's
    other = unset_key_settings(db_path)
    other.secret_key = Settings(secret_key="another-key-entirely-0123").secret_key  # type: ignore[arg-type]
    async with running(other, jar) as (_, stranger):
        r = await stranger.post(f"/api/v1/battles/{battle}/messages", json={"content": "Again?"})
        assert r.status_code in (401, 403), r.text
