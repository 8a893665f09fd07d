"""The wheel is the whole product.

It holds every module and resource of the tree (and nothing else); installed from the app
lock into a fresh venv, it migrates a database and serves every page from another folder,
with no checkout anywhere on its path.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
APP_LOCK = ROOT / "requirements-app.lock"


def tree_files() -> list[str]:
    """Tracked and new (not ignored) files: the tree as it would be committed."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [name for name in listed if (ROOT / name).is_file()]


def shipped_as(path: str) -> str | None:
    """Where a tree file lands in the wheel: every file under a package root ships."""
    top, _, rest = path.partition("/")
    renamed = {folder: package for package, folder in SETUPTOOLS["package-dir"].items()}
    if top in renamed:
        return f"{renamed[top]}/{rest}"
    roots = {p for p in SETUPTOOLS["packages"] if "." not in p} - set(renamed.values())
    return path if rest and top in roots else None


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The wheel, and the tree files it was built from (the tree may change meanwhile)."""
    # A copy, so the build writes its build/ and egg-info there, not into the checkout.
    src = tmp_path_factory.mktemp("src")
    files = tree_files()
    for name in files:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)])
    (wheel,) = out.glob("arena-*.whl")
    return wheel, files


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_wheel_holds_every_module_and_resource(built: tuple[Path, list[str]]) -> None:
    wheel, files = built
    expected = {target for name in files if (target := shipped_as(name))}
    with zipfile.ZipFile(wheel) as archive:
        names = {n for n in archive.namelist() if ".dist-info/" not in n}
    assert {"arena_web/templates/base.html", "arena_fleets/cpu-demo.toml"} <= expected
    unlisted = sorted({name.rpartition("/")[0].replace("/", ".") for name in expected - names})
    assert unlisted == [], "add these folders to [tool.setuptools] packages (and package-data)"
    assert sorted(names - expected) == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def started(cmd: list[str], log: Path, url: str, **kwargs: Any) -> Iterator[None]:
    """A server process, up once `url` answers; stopped (and reaped) on the way out."""
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, **kwargs)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, f"{cmd} exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"{url} never answered:\n{log.read_text()}"
            try:
                if httpx.get(url, timeout=2, trust_env=False).status_code < 500:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def title(html: str) -> str:
    found = re.search(r"<title>(.*?)</title>", html)
    assert found, html[:300]
    return found.group(1)


@pytest.mark.wheel
def test_installed_wheel_serves_every_page(built: tuple[Path, list[str]], tmp_path: Path) -> None:
    wheel = built[0]
    venv, cwd = tmp_path / "venv", tmp_path / "elsewhere"
    cwd.mkdir()
    started_at = time.monotonic()
    run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    run([*pip, "--require-hashes", "-r", str(APP_LOCK)])
    run([*pip, "--no-deps", str(wheel)])
    run([str(venv / "bin" / "python"), "-m", "pip", "check"])
    print(
        f"wheel {wheel.stat().st_size} bytes; venv + lock + wheel in {time.monotonic() - started_at:.1f} s"
    )

    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    env["ARENA_DATABASE_URL"] = f"sqlite:///{cwd / 'arena.db'}"
    python, arena = str(venv / "bin" / "python"), str(venv / "bin" / "arena")
    where = run(
        [
            python,
            "-c",
            "import arena, arena_web, arena_fleets, migrations as m, serving.fleet as f;"
            "print(arena.__file__, arena_web.__file__, m.__file__, f.CPU_DEMO_FLEET,"
            " len(f.load_fleet(f.CPU_DEMO_FLEET).models))",
        ],
        cwd=cwd,
        env=env,
    ).stdout.split()
    assert all(p.startswith(str(venv)) for p in where[:-1]), where
    assert int(where[-1]) >= 2
    run([arena, "db", "upgrade"], cwd=cwd, env=env)

    ports = [free_port() for _ in range(3)]
    fakes = [
        [python, "-m", "serving.fakes", "--port", str(p), "--served-model-name", f"fake-{i}"]
        for i, p in enumerate(ports[1:])
    ]
    with (
        started(
            fakes[0],
            tmp_path / "fake0.log",
            f"http://127.0.0.1:{ports[1]}/health",
            cwd=cwd,
            env=env,
        ),
        started(
            fakes[1],
            tmp_path / "fake1.log",
            f"http://127.0.0.1:{ports[2]}/health",
            cwd=cwd,
            env=env,
        ),
    ):
        for i, name in enumerate(("Model A", "Model B")):
            added = run(
                [
                    arena,
                    "models",
                    "add",
                    "--name",
                    name,
                    "--api-model",
                    f"fake-{i}",
                    "--base-url",
                    f"http://127.0.0.1:{ports[i + 1]}/v1",
                ],
                cwd=cwd,
                env=env,
            )
            assert "health: ok" in added.stdout, added.stdout
        base = f"http://127.0.0.1:{ports[0]}"
        serve = [arena, "serve", "--host", "127.0.0.1", "--port", str(ports[0])]
        with (
            started(serve, tmp_path / "serve.log", f"{base}/", cwd=cwd, env=env),
            httpx.Client(base_url=base, trust_env=False, timeout=30) as client,
        ):
            check_pages(client)


def check_pages(client: httpx.Client) -> None:
    pages: dict[str, str] = {}
    for path, expected_title in [
        ("/", "New battle · Arena"),
        ("/leaderboard", "Leaderboard · Arena"),
        ("/models/Model%20A", "Model A · Arena"),
        ("/docs", "Arena - Swagger UI"),
    ]:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert title(response.text) == expected_title
        pages[path] = response.text
    assert "<h1>Leaderboard</h1>" in pages["/leaderboard"]
    assert "/api/v1/battles" in client.get("/openapi.json").json()["paths"]
    missing = client.get("/models/nobody")
    assert (missing.status_code, title(missing.text)) == (404, "404 Not Found · Arena")

    created = client.post("/api/v1/battles", json={})
    assert created.status_code == 201, created.text
    battle = created.json()["battle_id"]
    with client.stream("POST", f"/api/v1/battles/{battle}/messages", json={"content": "hi"}) as s:
        assert s.status_code == 200
        assert "data: [DONE]" in s.read().decode()
    shown = client.get(f"/battles/{battle}")
    assert shown.status_code == 200 and title(shown.text) == "Battle · Arena"
    assert shown.text.count("The quick brown fox") == 2
    turn = client.get(f"/battles/{battle}/turns/0/render").json()
    assert turn["status"] == "done" and "<p>The quick brown fox" in turn["sides"]["A"]["html"]
    pages[shown.url.path] = shown.text

    static = ROOT / "web" / "static"
    linked = {m for html in pages.values() for m in re.findall(r"/static/([\w.-]+)\?v=", html)}
    assert {"arena.css", "battle.js", "favicon.svg"} <= linked
    for asset in sorted(linked | {p.name for p in static.iterdir()}):
        response = client.get(f"/static/{asset}")
        assert response.status_code == 200, asset
        assert response.content == (static / asset).read_bytes(), asset
