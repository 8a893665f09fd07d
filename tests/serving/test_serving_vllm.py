"""End to end against real CPU vLLM servers (marker ``vllm``; servers up once per session)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from serving.client import (
    BackendError,
    Done,
    Endpoint,
    Finish,
    TextDelta,
    Usage,
    make_http_client,
    stream_chat,
)
from serving.fingerprint import ask_all, compare
from serving.fleet import CPU_DEMO_FLEET, load_fleet
from serving.launcher import fleet_down, fleet_up
from serving.probes import identity_and_fingerprint, passed, probe, verify_endpoint
from serving.process import group_members
from serving.testing import RunningFleet
from serving.threaded import free_port

pytestmark = pytest.mark.vllm

NEUTRAL = {"role": "system", "content": "You are a helpful assistant."}
NAMES = ["SmolLM2-135M-Instruct", "Qwen2.5-Coder-0.5B-Instruct"]


@pytest.mark.parametrize("name", NAMES)
async def test_streams_a_real_answer(vllm_fleet: RunningFleet, name: str) -> None:
    endpoint = vllm_fleet.endpoint(name)
    messages = [NEUTRAL, {"role": "user", "content": "Name three colours."}]
    async with make_http_client() as client:
        events = [
            e async for e in stream_chat(client, endpoint, messages, max_tokens=32, temperature=0.0)
        ]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text.strip()
    assert {type(e) for e in events} == {TextDelta, Finish, Usage, Done}
    finish = [e for e in events if isinstance(e, Finish)]
    assert len(finish) == 1 and finish[0].reason in ("stop", "length")
    done = events[-1]
    assert isinstance(done, Done)
    stats = done.stats
    assert stats.ttft is not None and stats.prompt_tokens and stats.completion_tokens
    assert stats.completion_tokens <= 32
    # Nothing that identifies the server passes: no model, id, fingerprint, path.
    flat = repr(events)
    entry = vllm_fleet.entry(name)
    for leak in (entry.served_name, "chatcmpl", "vllm-0.32", "fingerprint", "/models/"):
        assert leak not in flat


async def test_two_streams_at_once(vllm_fleet: RunningFleet) -> None:
    messages = [NEUTRAL, {"role": "user", "content": "Count from one to five."}]

    async def answer(client: httpx.AsyncClient, endpoint: Endpoint) -> str:
        parts = [
            e.text
            async for e in stream_chat(client, endpoint, messages, max_tokens=16)
            if isinstance(e, TextDelta)
        ]
        return "".join(parts)

    async with make_http_client() as client:
        a, b = await asyncio.gather(*(answer(client, vllm_fleet.endpoint(n)) for n in NAMES))
    assert a.strip() and b.strip()


async def test_errors_from_vllm_are_safe(vllm_fleet: RunningFleet) -> None:
    entry = vllm_fleet.entry(NAMES[0])
    async with make_http_client() as client:
        # vLLM's 404 lists the served names ("Valid aliases: ..."): kept out of the message.
        with pytest.raises(BackendError) as info:
            [e async for e in stream_chat(client, Endpoint(entry.base_url, "gpt-4"), [NEUTRAL])]
        assert info.value.kind == "http" and info.value.status == 404
        assert entry.served_name in info.value.detail
        assert entry.served_name not in str(info.value)
        with pytest.raises(BackendError) as info:
            endpoint = vllm_fleet.endpoint(NAMES[0])
            [e async for e in stream_chat(client, endpoint, [NEUTRAL], max_tokens=5000)]
        assert info.value.status == 400 and "2048" not in str(info.value)


async def test_probe_and_verify(vllm_fleet: RunningFleet) -> None:
    async with make_http_client() as client:
        for name in NAMES:
            endpoint = vllm_fleet.endpoint(name)
            assert (await probe(client, endpoint)).ok
            checks = await verify_endpoint(client, endpoint, max_tokens=8)
            assert passed(checks), checks
        result = await probe(client, Endpoint(vllm_fleet.endpoint(NAMES[0]).base_url, "nope"))
        assert not result.ok


async def test_identity_probes_and_fingerprints(vllm_fleet: RunningFleet) -> None:
    """Real models at temperature 0 are deterministic (they pass the fingerprint check and
    match it again later), Qwen names itself, and one model's answers do not match the
    other's fingerprint: a swap behind the same name would be caught."""
    fingerprints = {}
    async with make_http_client() as client:
        for name in NAMES:
            endpoint = vllm_fleet.endpoint(name)
            checks, identity, fingerprint = await identity_and_fingerprint(client, endpoint)
            assert all(c.ok for c in checks), checks
            assert identity is not None and fingerprint is not None
            assert fingerprint.seed is not None  # vLLM takes a seed
            assert fingerprint.listing["id"] == endpoint.api_model
            assert fingerprint.listing["max_model_len"] == 2048
            again = compare(fingerprint, await ask_all(client, endpoint, fingerprint))
            assert not again.drifted and again.mismatched == 0, again.evidence()
            fingerprints[name] = (fingerprint, identity)
        qwen_fp, qwen_identity = fingerprints["Qwen2.5-Coder-0.5B-Instruct"]
        assert "Qwen" in qwen_identity.names, qwen_identity.as_dict()
        smol = vllm_fleet.endpoint("SmolLM2-135M-Instruct")
        swapped = compare(qwen_fp, await ask_all(client, smol, qwen_fp))
        assert swapped.drifted, swapped.evidence()


async def test_docs_are_off(vllm_fleet: RunningFleet) -> None:
    async with make_http_client() as client:
        base = vllm_fleet.endpoint(NAMES[0]).root
        for path in ("/docs", "/openapi.json", "/redoc"):
            assert (await client.get(base + path)).status_code == 404


async def test_sigterm_mid_stream_leaves_no_orphans(
    vllm_fleet: RunningFleet, tmp_path: Path
) -> None:
    """A third server of its own: stopped mid-answer, its whole process tree is gone."""
    smol = load_fleet(CPU_DEMO_FLEET).models[0]
    entry = smol.model_copy(update={"name": "Smol copy", "port": free_port()})
    fleet = vllm_fleet.fleet.model_copy(update={"models": (entry,)})
    run_dir = tmp_path / "run"
    servers = await asyncio.to_thread(fleet_up, fleet, run_dir=run_dir, log=lambda _: None)
    pid = servers["Smol copy"].pid
    try:
        assert len(group_members(pid)) >= 3  # API server, EngineCore, Worker, ...
        endpoint = Endpoint(entry.base_url, entry.served_name)
        messages = [NEUTRAL, {"role": "user", "content": "Write a long story about a cat."}]
        received = 0
        async with make_http_client() as client:
            with pytest.raises(BackendError) as info:
                async for event in stream_chat(client, endpoint, messages, max_tokens=1000):
                    if isinstance(event, TextDelta):
                        received += 1
                        if received == 3:
                            stop = asyncio.create_task(
                                asyncio.to_thread(fleet_down, run_dir, timeout=10)
                            )
        # vLLM ends the stream in-band, or (its engine already gone) holds the connection open
        # until the group is SIGKILLed after the timeout: either way nothing is orphaned.
        assert info.value.kind in ("upstream", "eof")
        assert (await stop)["Smol copy"] in ("terminated", "killed")
    finally:
        await asyncio.to_thread(fleet_down, run_dir)
    assert group_members(pid) == []
