"""Wire-level probes of model endpoints and the checks that verify a new one.

:func:`probe` is one cheap check (``GET /health`` where the server has it, then
``GET /v1/models`` must list the served model); :func:`serves_model` tells ill health from
drift. :func:`verify_endpoint` runs the named checks a new endpoint must pass before an
admin can approve it; :func:`verify_guarded` puts the SSRF guard's ``address`` check in
front of them and, once those pass, asks the identity probes (:mod:`serving.identity_probes`)
and records a fingerprint (:mod:`serving.fingerprint`). The periodic loop and the state kept
in the database belong to the caller.
Details are for operators and owners; they may name the endpoint's own model but never
carry secrets.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import orjson

from serving.client import BackendError, Done, Endpoint, TextDelta, complete_chat, stream_chat
from serving.fingerprint import Fingerprint, record_fingerprint
from serving.guard import GuardedClient, UnsafeEndpoint
from serving.identity_probes import IdentityReport, ask_identity

VERIFY_MESSAGES = (
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Reply with one short sentence: what is 2 + 2?"},
)


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str
    latency_ms: float


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _listed_models(response: httpx.Response) -> list[str]:
    payload = orjson.loads(response.content)
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise ValueError("no data list")
    return [str(item.get("id")) for item in data if isinstance(item, dict)]


async def probe(
    client: httpx.AsyncClient, endpoint: Endpoint, *, request_timeout: float = 5.0
) -> ProbeResult:
    """Is the endpoint up and serving ``endpoint.api_model``?"""
    started = time.monotonic()
    limit = httpx.Timeout(request_timeout)
    headers = endpoint.headers()
    try:
        health = await client.get(endpoint.url("/health"), headers=headers, timeout=limit)
        # /health is vLLM's; other OpenAI-compatible servers may not have it (404).
        if health.status_code not in (200, 404):
            return ProbeResult(False, f"/health returned HTTP {health.status_code}", _ms(started))
        models = await client.get(endpoint.url("/v1/models"), headers=headers, timeout=limit)
    except httpx.TimeoutException:
        return ProbeResult(False, f"timed out after {request_timeout:g} s", _ms(started))
    except httpx.HTTPError as exc:
        return ProbeResult(False, f"unreachable: {type(exc).__name__}", _ms(started))
    if models.status_code != 200:
        return ProbeResult(False, f"/v1/models returned HTTP {models.status_code}", _ms(started))
    try:
        listed = _listed_models(models)
    except ValueError:
        return ProbeResult(False, "/v1/models is not a model list", _ms(started))
    if endpoint.api_model not in listed:
        return ProbeResult(False, f"/v1/models does not list {endpoint.api_model!r}", _ms(started))
    return ProbeResult(True, "ok", _ms(started))


async def serves_model(
    client: httpx.AsyncClient, endpoint: Endpoint, *, request_timeout: float = 10.0
) -> bool | None:
    """Does ``/v1/models`` list the endpoint's served model? None when it cannot be told
    (unreachable, an error status, not a model list): that is ill health, not drift."""
    try:
        response = await client.get(
            endpoint.url("/v1/models"), headers=endpoint.headers(), timeout=request_timeout
        )
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        return endpoint.api_model in _listed_models(response)
    except ValueError:
        return None


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class CheckFailed(Exception):
    """A check's own verdict; its message is the check's detail as it stands."""


async def _timed(name: str, run: Callable[[], Awaitable[str]]) -> Check:
    started = time.monotonic()
    try:
        detail = await run()
    except CheckFailed as exc:
        return Check(name, False, str(exc)[:500], _ms(started))
    except BackendError as exc:
        return Check(name, False, f"{exc.message}: {exc.detail[:300]}", _ms(started))
    except (httpx.HTTPError, ValueError, AssertionError) as exc:
        return Check(name, False, f"{type(exc).__name__}: {exc}"[:300], _ms(started))
    return Check(name, True, detail, _ms(started))


async def verify_endpoint(
    client: httpx.AsyncClient,
    endpoint: Endpoint,
    *,
    max_tokens: int = 32,
    request_timeout: float = 60.0,
) -> list[Check]:
    """Named checks: ``models``, ``completion``, ``stream``. All must pass."""

    async def models() -> str:
        response = await client.get(
            endpoint.url("/v1/models"), headers=endpoint.headers(), timeout=request_timeout
        )
        if response.status_code != 200:
            raise ValueError(f"/v1/models returned HTTP {response.status_code}")
        listed = _listed_models(response)
        if endpoint.api_model not in listed:
            raise ValueError(f"{endpoint.api_model!r} not in {listed[:10]}")
        return f"lists {endpoint.api_model!r}"

    async def completion() -> str:
        result = await complete_chat(
            client, endpoint, VERIFY_MESSAGES, max_tokens=max_tokens, temperature=0.0
        )
        if not result.text.strip():
            raise ValueError("empty answer")
        return f"{len(result.text)} chars, finish_reason {result.finish_reason}"

    async def stream() -> str:
        text: list[str] = []
        done: Done | None = None
        async for event in stream_chat(
            client, endpoint, VERIFY_MESSAGES, max_tokens=max_tokens, temperature=0.0
        ):
            if isinstance(event, TextDelta):
                text.append(event.text)
            elif isinstance(event, Done):
                done = event
        if done is None:
            raise ValueError("stream ended without [DONE]")
        if not "".join(text).strip():
            raise ValueError("empty answer")
        stats = done.stats
        ttft = f"{stats.ttft * 1000:.0f} ms" if stats.ttft is not None else "n/a"
        usage = "with usage" if stats.completion_tokens is not None else "no usage chunk"
        return f"{stats.output_tokens} tokens, first after {ttft}, {usage}, [DONE]"

    checks = [await _timed("models", models)]
    checks.append(await _timed("completion", completion))
    checks.append(await _timed("stream", stream))
    return checks


async def address_check(client: GuardedClient, base_url: str) -> Check:
    """The guard's verdict on every address ``base_url`` resolves to, before any request."""
    started = time.monotonic()
    try:
        addresses = await client.guard.check_url(base_url)
    except UnsafeEndpoint as exc:
        return Check("address", False, str(exc), _ms(started))
    return Check("address", True, f"{len(addresses)} address(es), all allowed", _ms(started))


@dataclass(frozen=True)
class Verification:
    """The checks, and what the identity and fingerprint checks found (None: not asked)."""

    checks: list[Check]
    identity: IdentityReport | None = None
    fingerprint: Fingerprint | None = None

    @property
    def passed(self) -> bool:
        return passed(self.checks)


async def identity_and_fingerprint(
    client: httpx.AsyncClient, endpoint: Endpoint
) -> tuple[list[Check], IdentityReport | None, Fingerprint | None]:
    """``identity`` (names the answers give; passes unless a request fails) and
    ``fingerprint`` (each canary asked twice: fails when the answers differ)."""
    found: dict[str, Any] = {}

    async def identity() -> str:
        found["identity"] = report = await ask_identity(client, endpoint)
        return report.detail()

    async def fingerprint() -> str:
        recording = await record_fingerprint(client, endpoint)
        if not recording.deterministic:
            raise CheckFailed(recording.detail())
        found["fingerprint"] = recording.fingerprint
        return recording.detail()

    checks = [await _timed("identity", identity), await _timed("fingerprint", fingerprint)]
    return checks, found.get("identity"), found.get("fingerprint")


async def verify_guarded(client: GuardedClient, endpoint: Endpoint) -> Verification:
    """``address``, :func:`verify_endpoint`'s checks, then ``identity`` and ``fingerprint``
    (only when everything before passed: a broken endpoint is not asked more). A refused host
    is never contacted."""
    checks = [await address_check(client, endpoint.base_url)]
    if not checks[0].ok:
        return Verification(checks)
    checks.extend(await verify_endpoint(client, endpoint))
    if not passed(checks):
        return Verification(checks)
    more, identity, fingerprint = await identity_and_fingerprint(client, endpoint)
    return Verification(checks + more, identity, fingerprint)


def passed(checks: list[Check]) -> bool:
    return bool(checks) and all(check.ok for check in checks)
