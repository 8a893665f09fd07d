"""Async streaming client for OpenAI-compatible ``/v1/chat/completions``.

One shared :class:`httpx.AsyncClient` (see :func:`make_http_client`) is passed in by the
caller. :func:`stream_chat` yields typed events only — :class:`TextDelta`,
:class:`Finish`, :class:`Usage` and a last :class:`Done` carrying :class:`StreamStats` —
so nothing the server sends (``model``, ``id``, ``system_fingerprint``, headers) reaches
the caller. Every failure raises :class:`BackendError`, whose ``message`` is safe to show
to anonymous voters (no model name, URL or host) while ``detail`` keeps the raw cause for
logs.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import orjson

from serving.sse import MalformedLine, sse_data

ErrorKind = Literal["connect", "timeout", "http", "protocol", "upstream", "eof"]

_SAFE_MESSAGES: dict[str, str] = {
    "connect": "the model server could not be reached",
    "timeout": "the model server timed out",
    "http": "the model server refused the request",
    "protocol": "the model server sent a malformed response",
    "upstream": "the model server reported an error while answering",
    "eof": "the model server stopped before finishing its answer",
}
_MAX_ERROR_BODY = 4096


class BackendError(Exception):
    """A model server failed. ``str(err)`` / ``err.message`` is safe to show to voters."""

    def __init__(
        self,
        kind: ErrorKind,
        detail: str = "",
        *,
        status: int | None = None,
        stats: StreamStats | None = None,
    ) -> None:
        self.kind: ErrorKind = kind
        self.status = status
        self.message = _SAFE_MESSAGES[kind] + (f" (HTTP {status})" if status else "")
        # Raw cause (may name the model, URL or host): for logs and operators only.
        self.detail = detail
        # What had arrived before the failure (time to first token, tokens so far).
        self.stats = stats
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"BackendError(kind={self.kind!r}, message={self.message!r})"


@dataclass(frozen=True)
class Endpoint:
    """Where to send requests. ``base_url`` may end with or without ``/v1``."""

    base_url: str
    api_model: str
    api_key: str | None = field(default=None, repr=False)

    @property
    def root(self) -> str:
        return self.base_url.rstrip("/").removesuffix("/v1")

    def url(self, path: str) -> str:
        return self.root + path

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Finish:
    reason: str  # "stop", "length", ... as the server says


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass
class StreamStats:
    """Timings (seconds, monotonic clock) and token counts of one stream."""

    started: float = field(default_factory=time.monotonic)
    first_token: float | None = None
    last_token: float | None = None
    ended: float | None = None
    deltas: int = 0  # content chunks; one per token on vLLM
    chars: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None  # from the usage chunk
    finish_reason: str | None = None

    @property
    def ttft(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.started

    @property
    def duration(self) -> float | None:
        return None if self.ended is None else self.ended - self.started

    @property
    def output_tokens(self) -> int:
        return self.completion_tokens if self.completion_tokens is not None else self.deltas

    @property
    def tokens_per_s(self) -> float | None:
        """Decode rate: tokens after the first over the time since the first."""
        if self.first_token is None or self.last_token is None or self.output_tokens < 2:
            return None
        span = self.last_token - self.first_token
        return (self.output_tokens - 1) / span if span > 0 else None


@dataclass(frozen=True)
class Done:
    stats: StreamStats


Delta = TextDelta | Finish | Usage | Done


def _remember_missing_sniffio() -> None:
    """httpcore imports the optional `sniffio` inside its lock and connection code, some 25
    times per battle turn; when it is not installed each of those is a failed import, a
    search of every sys.path entry (12% of the app's CPU under load_battles). A None entry
    in sys.modules makes the same import fail at once."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def make_http_client(
    *,
    connect: float = 5.0,
    read: float = 60.0,
    write: float = 10.0,
    pool: float = 10.0,
    max_connections: int = 200,
    max_keepalive_connections: int = 50,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The one client for all model servers. ``read`` bounds the gap between two chunks."""
    _remember_missing_sniffio()
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=connect, read=read, write=write, pool=pool),
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
        ),
        follow_redirects=False,
        trust_env=False,
        transport=transport,
        headers={"User-Agent": "arena"},
    )


def _map_transport_error(exc: httpx.HTTPError, stats: StreamStats | None) -> BackendError:
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return BackendError("connect", detail, stats=stats)
    if isinstance(exc, httpx.TimeoutException):
        return BackendError("timeout", detail, stats=stats)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return BackendError("eof", detail, stats=stats)
    if isinstance(exc, httpx.DecodingError):
        return BackendError("protocol", detail, stats=stats)
    return BackendError("connect", detail, stats=stats)


def _error_detail(status: int, body: bytes) -> str:
    text = body[:_MAX_ERROR_BODY].decode("utf-8", "replace")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return f"HTTP {status}: {text}"
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and "message" in error:
        return f"HTTP {status}: {error.get('type')}: {error['message']}"
    return f"HTTP {status}: {text}"


def build_body(
    endpoint: Endpoint,
    messages: Sequence[Mapping[str, Any]],
    *,
    max_tokens: int,
    temperature: float,
    stream: bool,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": endpoint.api_model,
        "messages": [dict(m) for m in messages],
        "max_tokens": max_tokens,
        "temperature": temperature,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    if extra:
        body.update(extra)
    return body


def _parse_chunk(data: str, stats: StreamStats) -> list[TextDelta | Finish | Usage]:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BackendError("protocol", f"bad JSON in stream: {exc}: {data[:200]!r}") from None
    if not isinstance(chunk, dict):
        raise BackendError("protocol", f"stream chunk is not an object: {data[:200]!r}")
    if "error" in chunk:
        raise BackendError("upstream", f"in-band error: {data[:_MAX_ERROR_BODY]}")
    events: list[TextDelta | Finish | Usage] = []
    choices = chunk.get("choices", [])
    if not isinstance(choices, list):
        raise BackendError("protocol", f"choices is not a list: {data[:200]!r}")
    for choice in choices:
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
            continue
        delta = choice.get("delta") or {}
        content = delta.get("content") if isinstance(delta, dict) else None
        if content is not None and not isinstance(content, str):
            raise BackendError("protocol", f"delta content is not a string: {data[:200]!r}")
        if content:
            now = time.monotonic()
            if stats.first_token is None:
                stats.first_token = now
            stats.last_token = now
            stats.deltas += 1
            stats.chars += len(content)
            events.append(TextDelta(content))
        reason = choice.get("finish_reason")
        if reason is not None:
            stats.finish_reason = str(reason)
            events.append(Finish(str(reason)))
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        try:
            parsed = Usage(
                int(usage.get("prompt_tokens", 0)),
                int(usage.get("completion_tokens", 0)),
                int(usage.get("total_tokens", 0)),
            )
        except (TypeError, ValueError):
            raise BackendError("protocol", f"bad usage: {data[:200]!r}") from None
        stats.prompt_tokens = parsed.prompt_tokens
        stats.completion_tokens = parsed.completion_tokens
        events.append(parsed)
    return events


async def stream_chat(
    client: httpx.AsyncClient,
    endpoint: Endpoint,
    messages: Sequence[Mapping[str, Any]],
    *,
    max_tokens: int = 512,
    temperature: float = 0.7,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[Delta]:
    """Stream one chat completion; the last event is :class:`Done` (after :class:`Finish`).

    ``extra`` adds request fields (``top_p``, ``seed``, ``stop`` ...); ``headers`` adds
    request headers (``X-Request-ID``), never replacing the endpoint's own. Closing the
    iterator early closes the connection, which makes vLLM abort the request.
    """
    stats = StreamStats()
    body = build_body(
        endpoint, messages, max_tokens=max_tokens, temperature=temperature, stream=True, extra=extra
    )
    sent = {"Accept": "text/event-stream", **(headers or {}), **endpoint.headers()}
    finished = False
    try:
        async with client.stream(
            "POST", endpoint.url("/v1/chat/completions"), json=body, headers=sent
        ) as response:
            if response.status_code != 200:
                raw = await _read_capped(response)
                raise BackendError(
                    "http", _error_detail(response.status_code, raw), status=response.status_code
                )
            ctype = response.headers.get("content-type", "")
            if not ctype.startswith("text/event-stream"):
                raw = await _read_capped(response)
                raise BackendError("protocol", f"content-type {ctype!r}: {raw[:200]!r}")
            async for data in sse_data(response):
                if data == "[DONE]":
                    if not finished:
                        raise BackendError("protocol", "[DONE] before any finish_reason")
                    stats.ended = time.monotonic()
                    yield Done(stats)
                    return
                for event in _parse_chunk(data, stats):
                    if isinstance(event, Finish):
                        finished = True
                    yield event
            raise BackendError("eof", "stream ended before [DONE]")
    except BackendError as exc:
        exc.stats = stats
        raise
    except httpx.HTTPError as exc:
        raise _map_transport_error(exc, stats) from None
    except UnicodeDecodeError as exc:
        raise BackendError("protocol", f"stream is not UTF-8: {exc}", stats=stats) from None
    except MalformedLine as exc:
        raise BackendError("protocol", str(exc), stats=stats) from None


async def _read_capped(response: httpx.Response) -> bytes:
    raw = b""
    async for part in response.aiter_bytes():
        raw += part
        if len(raw) >= _MAX_ERROR_BODY:
            break
    return raw[:_MAX_ERROR_BODY]


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None
    usage: Usage | None
    seconds: float


async def complete_chat(
    client: httpx.AsyncClient,
    endpoint: Endpoint,
    messages: Sequence[Mapping[str, Any]],
    *,
    max_tokens: int = 64,
    temperature: float = 0.0,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Completion:
    """One non-streamed chat completion (used by verification); same errors as streaming,
    same ``headers`` as :func:`stream_chat`."""
    body = build_body(
        endpoint,
        messages,
        max_tokens=max_tokens,
        temperature=temperature,
        stream=False,
        extra=extra,
    )
    started = time.monotonic()
    try:
        response = await client.post(
            endpoint.url("/v1/chat/completions"),
            json=body,
            headers={**(headers or {}), **endpoint.headers()},
        )
    except httpx.HTTPError as exc:
        raise _map_transport_error(exc, None) from None
    if response.status_code != 200:
        raise BackendError(
            "http",
            _error_detail(response.status_code, response.content),
            status=response.status_code,
        )
    try:
        payload = orjson.loads(response.content)
        choice = payload["choices"][0]
        text = choice["message"]["content"] or ""
        reason = choice.get("finish_reason")
        raw_usage = payload.get("usage") or {}
        usage = (
            Usage(
                int(raw_usage["prompt_tokens"]),
                int(raw_usage["completion_tokens"]),
                int(raw_usage["total_tokens"]),
            )
            if raw_usage
            else None
        )
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise BackendError(
            "protocol", f"bad completion: {exc!r}: {response.content[:200]!r}"
        ) from None
    if not isinstance(text, str):
        raise BackendError("protocol", "message content is not a string")
    return Completion(text, reason, usage, time.monotonic() - started)
