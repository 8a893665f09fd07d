"""deploy/: what cannot run here (no GPU, no container runtime) is parsed and validated.

The compose file by PyYAML and ``docker-compose config``, the proxy config by ``nginx -t``,
the unit files by ``systemd-analyze verify``, the Containerfile by what it copies and runs,
and the compose fleet by the exact vLLM command lines it gives. ``make deploy-tools``
installs Debian's nginx and docker-compose.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from serving.fleet import load_fleet
from serving.launcher import build_launch

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SECRETS = {"ARENA_SECRET_KEY": "k" * 64, "ARENA_ADMIN_TOKEN": "t" * 32, "POSTGRES_PASSWORD": "p"}
GPU_PY = Path("/opt/arena-cache/runtimes/vllm/bin/python")


def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is not installed: make test runs make deploy-tools first")
        pytest.skip(f"{tool} is not installed (make deploy-tools)")
    return path


# --- compose ------------------------------------------------------------------------------


def test_compose_services_and_networks() -> None:
    data = compose()
    services = data["services"]
    assert set(services) == {
        "migrate", "arena-1", "arena-2", "proxy", "postgres", "redis", "vllm-m1", "vllm-m2",
    }  # fmt: skip
    # Only the proxy is reachable from outside; databases and model servers are internal.
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"proxy"}
    networks = data["networks"]
    assert networks["backend"]["internal"] is True and networks["models"]["internal"] is True
    for name in ("postgres", "redis"):
        assert services[name]["networks"] == ["backend"]
    for name in ("arena-1", "arena-2"):
        arena = services[name]
        assert arena["build"] == {
            "context": "..", "dockerfile": "deploy/Containerfile", "target": "arena",
        }  # fmt: skip
        env = arena["environment"]
        assert env["ARENA_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["ARENA_REDIS_URL"] == "redis://redis:6379/0"
        # Required, never defaulted: replicas must share one key.
        assert env["ARENA_SECRET_KEY"].startswith("${ARENA_SECRET_KEY:?")
        assert arena["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["arena", "db", "upgrade"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in services["proxy"]["volumes"]


def test_compose_vllm_services_follow_the_fleet() -> None:
    services = compose()["services"]
    fleet = load_fleet(DEPLOY / "fleet.toml")
    for entry in fleet.models:
        service = services[entry.host]  # the fleet's host is the service's name
        assert service["build"]["target"] == "vllm-gpu"
        assert service["command"] == ["--name", entry.served_name]
        assert "models" in service["networks"] and "ports" not in service
        assert "./fleet.toml:/etc/arena/fleet.toml:ro" in service["volumes"]
        (devices,) = service["deploy"]["resources"]["reservations"]["devices"]
        assert devices["driver"] == "nvidia" and devices["capabilities"] == ["gpu"]
        gpu = entry.gpu
        assert gpu is not None
        assert len(devices["device_ids"]) == gpu.tensor_parallel * gpu.pipeline_parallel
        assert list(gpu.gpu_ids) == list(range(len(devices["device_ids"])))
    assert {s for s in services if s.startswith("vllm-")} == {e.host for e in fleet.models}


def test_compose_fleet_command_lines() -> None:
    m1, m2 = (
        build_launch(e, runtime_python=GPU_PY) for e in load_fleet(DEPLOY / "fleet.toml").models
    )
    api = [str(GPU_PY), "-m", "vllm.entrypoints.openai.api_server"]
    assert list(m1.argv) == [
        *api, "--model", "Qwen/Qwen2.5-7B-Instruct", "--served-model-name", "m1",
        "--host", "vllm-m1", "--port", "8201", "--dtype", "bfloat16",
        "--tensor-parallel-size", "1", "--pipeline-parallel-size", "1",
        "--max-model-len", "16384", "--gpu-memory-utilization", "0.9",
        "--disable-uvicorn-access-log", "--disable-fastapi-docs",
    ]  # fmt: skip
    assert m1.env["CUDA_VISIBLE_DEVICES"] == "0"
    argv = list(m2.argv)
    assert argv[argv.index("--tensor-parallel-size") + 1] == "2"
    assert m2.env["CUDA_VISIBLE_DEVICES"] == "0,1"


def test_docker_compose_config_accepts_it_and_requires_the_secrets() -> None:
    tool = need("docker-compose")
    cmd = [tool, "-f", str(DEPLOY / "compose.yaml"), "config", "-q"]
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    ok = subprocess.run(cmd, env=env | SECRETS, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0 and "set " in missing.stderr


# --- the proxy ----------------------------------------------------------------------------


def proxy_location() -> str:
    text = (DEPLOY / "nginx.conf").read_text()
    body = text[text.index("location / {") :]
    return body[: body.index("}")]


def test_proxy_is_sse_friendly_and_sets_the_client_address() -> None:
    location = proxy_location()
    assert re.search(r"^\s*proxy_buffering off;", location, re.M)
    assert re.search(r"^\s*proxy_cache off;", location, re.M)
    read = re.search(r"^\s*proxy_read_timeout (\d+)s;", location, re.M)
    assert read is not None and int(read.group(1)) >= 300
    # Set, not appended: what the client sends in X-Forwarded-For is thrown away.
    assert re.search(r"^\s*proxy_set_header X-Forwarded-For \$remote_addr;", location, re.M)
    assert "$proxy_add_x_forwarded_for" not in (DEPLOY / "nginx.conf").read_text()
    assert "http_1.1" not in location and "proxy_http_version 1.1;" in location
    # POSTs (battles, votes) are never retried on the other replica.
    assert "non_idempotent" not in location


def test_nginx_accepts_the_config(tmp_path: Path) -> None:
    tool = need("nginx")
    # The replicas' names resolve only on the compose network: loopback stands in for them.
    text = (DEPLOY / "nginx.conf").read_text()
    assert text.count("server arena-") == 2
    (tmp_path / "nginx.conf").write_text(re.sub(r"arena-\d:8000", "127.0.0.1:8000", text))
    cmd = [tool, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"]
    cmd += ["-g", f"pid {tmp_path / 'nginx.pid'};"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # And it does reject a broken one.
    (tmp_path / "nginx.conf").write_text(text.replace("proxy_buffering off", "proxy_buffer off"))
    assert subprocess.run(cmd, capture_output=True, timeout=60).returncode != 0


# --- the container file -------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Containerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_containerfile_copies_what_exists_and_installs_from_the_lock() -> None:
    steps = instructions()
    copies = [rest.split() for word, rest in steps if word == "COPY"]
    for *sources, _target in copies:
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the build context"
    ignored = (DEPLOY / "Containerfile.dockerignore").read_text().split()
    for *sources, _ in copies:
        assert not set(sources) & set(ignored)
    runs = [rest for word, rest in steps if word == "RUN"]
    lock = runs.index("pip install --no-deps -r /app/requirements-app.lock")
    project = runs.index("pip install --no-deps /app && rm -rf /app/build")
    assert lock < project  # dependencies from the lock, the project without resolving
    assert ["requirements-app.lock", "/app/requirements-app.lock"] in copies
    stages = [rest for word, rest in steps if word == "FROM"]
    assert stages == ["python:3.11-slim-bookworm AS arena", "arena AS vllm-gpu"]
    assert (
        "python -m serving.prepare runtime --profile gpu && chown -R arena:arena /opt/arena-cache"
        in runs
    )
    cmds = [rest for word, rest in steps if word == "CMD"]
    assert '"arena", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"' in cmds[-1]
    entry = [rest for word, rest in steps if word == "ENTRYPOINT"]
    assert entry == [
        '["python", "-m", "serving.foreground", "exec", "--config", "/etc/arena/fleet.toml"]'
    ]


# --- unit files ---------------------------------------------------------------------------


def test_systemd_units_verify(tmp_path: Path) -> None:
    tool = need("systemd-analyze")
    # verify checks that ExecStart exists: executables in a scratch folder stand in.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("arena", "python"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    units = []
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        text = unit.read_text()
        assert "/opt/arena/.venv/bin/" in text
        name = unit.name.replace("@.service", "@m1.service")
        (tmp_path / name).write_text(text.replace("/opt/arena/.venv/bin", str(bin_dir)))
        units.append(str(tmp_path / name))
    assert len(units) == 2
    done = subprocess.run([tool, "verify", *units], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    vllm = (DEPLOY / "systemd" / "arena-vllm@.service").read_text()
    assert "KillMode=mixed" in vllm and "serving.foreground exec" in vllm


def test_example_addresses_are_private() -> None:
    for entry in load_fleet(DEPLOY / "fleet.toml").models:
        with pytest.raises(ValueError):
            ipaddress.ip_address(entry.host)  # a compose service name, resolved privately
    unit = (DEPLOY / "systemd" / "arena.service").read_text()
    assert "--host 127.0.0.1" in unit
