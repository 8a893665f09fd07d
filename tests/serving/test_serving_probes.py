"""Endpoint probes and verification checks against the fake server."""

from __future__ import annotations

import httpx
import pytest

from serving.client import Endpoint, make_http_client
from serving.fakes import FakeModel, FakeServer, fake_transport
from serving.fingerprint import (
    CANARY_PROMPTS,
    CANARY_SEED,
    MATCH_THRESHOLD,
    CanaryAnswer,
    Fingerprint,
    compare,
    record_fingerprint,
    similarity,
)
from serving.probes import identity_and_fingerprint, passed, probe, verify_endpoint


async def test_probe_states(fake_server: FakeServer, http_client: httpx.AsyncClient) -> None:
    result = await probe(http_client, fake_server.endpoint())
    assert result.ok and result.detail == "ok" and result.latency_ms >= 0
    fake_server.model.health_status = 503
    result = await probe(http_client, fake_server.endpoint())
    assert not result.ok and "/health returned HTTP 503" in result.detail
    fake_server.model.health_status = None  # servers without /health are fine
    assert (await probe(http_client, fake_server.endpoint())).ok
    fake_server.model.list_model = False
    result = await probe(http_client, fake_server.endpoint())
    assert not result.ok and "does not list 'fake-model'" in result.detail


async def test_probe_unreachable(http_client: httpx.AsyncClient) -> None:
    result = await probe(http_client, Endpoint("http://127.0.0.1:9", "m"), request_timeout=1)
    assert not result.ok and result.detail.startswith("unreachable")


async def test_probe_bad_model_list() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/health":
            return httpx.Response(200)
        return httpx.Response(200, json={"models": "?"})

    async with make_http_client(transport=httpx.MockTransport(handler)) as client:
        result = await probe(client, Endpoint("http://x", "m"))
    assert not result.ok and result.detail == "/v1/models is not a model list"


async def test_verification_passes(fake_server: FakeServer, http_client: httpx.AsyncClient) -> None:
    checks = await verify_endpoint(http_client, fake_server.endpoint())
    assert [c.name for c in checks] == ["models", "completion", "stream"]
    assert passed(checks), checks
    assert "[DONE]" in checks[2].detail
    assert set(checks[0].as_dict()) == {"name", "ok", "detail", "ms"}


@pytest.mark.parametrize(
    ("model", "failing"),
    [
        (FakeModel(list_model=False), {"models"}),
        (FakeModel(status=500), {"completion", "stream"}),
        (FakeModel(fault="eof"), {"stream"}),
        (FakeModel(fault="garbage"), {"stream"}),
        (FakeModel(answer=" "), {"completion", "stream"}),
    ],
)
async def test_verification_names_the_failing_check(model: FakeModel, failing: set[str]) -> None:
    async with make_http_client(transport=fake_transport(model)) as client:
        checks = await verify_endpoint(client, Endpoint("http://owner.example", "fake-model"))
    assert {c.name for c in checks if not c.ok} == failing
    assert not passed(checks)


# --- identity probes and fingerprints ---------------------------------------------------


def canary_body(prompt: str) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": prompt}], "temperature": 0.0}


def test_fake_weights_answer_as_a_function_of_the_prompt() -> None:
    one, same, other = FakeModel(weights=1), FakeModel(weights=1), FakeModel(weights=2)
    body = canary_body("Describe a lemon.")
    assert one.reply_text(body) == same.reply_text(body)
    assert one.reply_text(body) != other.reply_text(body)
    assert one.reply_text(body) != one.reply_text(canary_body("Describe a lime."))
    noisy = FakeModel(nondeterministic=True)
    assert noisy.reply_text(body) != noisy.reply_text(body)
    assert FakeModel(answer="fixed").reply_text(body) == "fixed"


def test_similarity_is_robust_to_a_late_divergence() -> None:
    text = "The keeper found a bottle with a map inside, drawn in faded blue ink, and a note."
    late = text.replace("and a note.", "and a letter signed by his father.")
    assert similarity(text, text) == 1.0
    assert similarity(text, "  " + text.upper()) == 1.0  # case and spacing are normalised
    assert similarity(text, late) >= MATCH_THRESHOLD
    unrelated = "Lemons taste sharp and sour, like sunlight turned into a shiver."
    assert similarity(text, unrelated) < MATCH_THRESHOLD


def make_fingerprint(answers: list[str]) -> Fingerprint:
    canaries = tuple(CanaryAnswer.of(f"prompt {i}", a) for i, a in enumerate(answers))
    return Fingerprint({"id": "m", "root": "/models/m"}, canaries, CANARY_SEED)


def test_drift_needs_a_majority_of_canaries() -> None:
    base = [f"answer number {i} about lighthouses, lemons and planets far away" for i in range(3)]
    fp = make_fingerprint(base)
    swapped = ["completely other words here and there, nothing shared at all"] * 3
    assert not compare(fp, base).drifted and compare(fp, base).mismatched == 0
    assert not compare(fp, [swapped[0], base[1], base[2]]).drifted  # one of three
    verdict = compare(fp, [swapped[0], swapped[1], base[2]], {"id": "m", "root": "/other"})
    assert verdict.drifted and verdict.mismatched == 2
    evidence = verdict.evidence()
    assert evidence["listing_changes"] == {"root": ["/models/m", "/other"]}
    assert [c["matched"] for c in evidence["canaries"]] == [False, False, True]
    assert evidence["canaries"][0]["expected"] == base[0]
    assert evidence["canaries"][0]["got"] == swapped[0]
    assert "2 of 3 canaries no longer match" in verdict.summary()
    with pytest.raises(ValueError, match="2 answers for 3 canaries"):
        compare(fp, base[:2])


async def test_identity_and_fingerprint_checks() -> None:
    model = FakeModel.naming_itself("Qwen", "Alibaba Cloud")
    async with make_http_client(transport=fake_transport(model)) as client:
        checks, identity, fingerprint = await identity_and_fingerprint(
            client, Endpoint("http://owner.example", "fake-model")
        )
    assert [(c.name, c.ok) for c in checks] == [("identity", True), ("fingerprint", True)]
    assert identity is not None and identity.names == ["Qwen", "Alibaba Cloud"]
    assert fingerprint is not None and fingerprint.seed == CANARY_SEED
    assert [c.prompt for c in fingerprint.canaries] == list(CANARY_PROMPTS)
    assert fingerprint.listing["id"] == "fake-model" and fingerprint.listing["max_model_len"]
    chat = [r for r in model.requests if r["messages"][-1]["content"] in CANARY_PROMPTS]
    assert len(chat) == 6 and all(r["temperature"] == 0.0 for r in chat)


async def test_random_text_at_temperature_zero_fails_the_fingerprint() -> None:
    model = FakeModel(nondeterministic=True)
    async with make_http_client(transport=fake_transport(model)) as client:
        checks, _, fingerprint = await identity_and_fingerprint(
            client, Endpoint("http://owner.example", "fake-model")
        )
    check = {c.name: c for c in checks}["fingerprint"]
    assert not check.ok and fingerprint is None
    assert check.detail.startswith("non-deterministic at temperature 0")
    assert "canary 1 similarity" in check.detail


async def test_a_server_refusing_seeds_is_asked_without() -> None:
    model = FakeModel(weights=5, accepts_seed=False)
    async with make_http_client(transport=fake_transport(model)) as client:
        recording = await record_fingerprint(client, Endpoint("http://owner.example", "fake-model"))
    assert recording.deterministic and recording.fingerprint.seed is None
    assert "seed" in model.requests[0] and all("seed" not in r for r in model.requests[1:])
