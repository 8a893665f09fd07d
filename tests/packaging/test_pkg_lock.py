"""The lock files agree with pyproject.toml and with each other.

`make install` installs requirements.lock with `--require-hashes`, then the project with
`--no-deps` and `pip check`; these checks catch a pyproject.toml edited without `make lock`
before any install does.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(path: Path) -> dict[tuple[str, str, str], frozenset[str]]:
    """(name, version, marker) -> hashes, for every entry of a `uv pip compile` lock."""
    entries: dict[tuple[str, str, str], frozenset[str]] = {}
    key: tuple[str, str, str] | None = None
    hashes: set[str] = set()
    for line in [*path.read_text().splitlines(), ""]:
        stripped = line.strip()
        if stripped.startswith("--hash="):
            hashes.add(stripped.removeprefix("--hash=").rstrip(" \\"))
            continue
        if key is not None:
            entries[key] = frozenset(hashes)
            key, hashes = None, set()
        if stripped and not stripped.startswith("#"):
            found = ENTRY.match(stripped)
            assert found, f"{path.name}: cannot read {line!r}"
            key = (canonical(found[1]), found[2], (found[3] or "").strip())
    return entries


def pins(requirements: list[str]) -> dict[str, str]:
    result = {}
    for requirement in requirements:
        found = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[\w,-]+\])?==(\S+)", requirement)
        assert found, f"not pinned with ==: {requirement!r}"
        result[canonical(found[1])] = found[2]
    return result


FULL = parse_lock(ROOT / "requirements.lock")
APP = parse_lock(ROOT / "requirements-app.lock")


def versions(lock: dict[tuple[str, str, str], frozenset[str]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, version, _ in lock:
        found.setdefault(name, set()).add(version)
    return found


def test_locks_are_read_whole() -> None:
    assert len(FULL) > len(APP) > 40
    assert all(FULL.values()) and all(APP.values()), "an entry without --hash"
    for path in ("requirements.lock", "requirements-app.lock"):
        assert "#    make lock\n" in (ROOT / path).read_text(), f"{path}: not written by make lock"


def test_every_pin_of_pyproject_is_in_the_locks() -> None:
    main = pins(PROJECT["dependencies"])
    test = pins(PROJECT["optional-dependencies"]["test"])
    full, app = versions(FULL), versions(APP)
    assert {n: v for n, v in {**main, **test}.items() if full.get(n) != {v}} == {}
    assert {n: v for n, v in main.items() if app.get(n) != {v}} == {}


def test_app_lock_is_the_full_lock_less_the_test_tools() -> None:
    # Markers may differ (the test extra asks for uvloop everywhere, uvicorn only off Windows).
    full = {(name, version): hashes for (name, version, _), hashes in FULL.items()}
    app = {(name, version): hashes for (name, version, _), hashes in APP.items()}
    assert set(app) <= set(full)
    assert {key for key, hashes in app.items() if full[key] != hashes} == set()
    test_only = set(pins(PROJECT["optional-dependencies"]["test"])) - set(versions(APP))
    assert {"pytest", "playwright", "scipy"} <= test_only
