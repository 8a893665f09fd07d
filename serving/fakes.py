"""A small fake OpenAI-compatible model server with fault injection, for tests.

Behaviour is one mutable :class:`FakeModel` (change its fields while a server runs)::

    FakeModel(
        served_name="fake-model",      # what /v1/models lists and chunks carry in "model"
        answer="The quick brown fox …", # streamed word by word, one SSE chunk per word
        tokens_per_second=None,        # None: as fast as possible
        first_token_delay=0.0,         # seconds before the first content chunk
        status=200,                    # != 200: chat requests fail with an OpenAI error body
        health_status=200,             # GET /health; None: the route does not exist (404)
        list_model=True,               # False: /v1/models lists no model
        fault=None,                    # "drop" | "eof" | "garbage" | "error" | "stall"
        fault_after=2,                 # content chunks sent before the fault
        weights=None,                  # int: answer as a function of the prompt (see below)
        nondeterministic=False,        # True: fresh random text on every request
        accepts_seed=True,             # False: a request carrying "seed" is refused (400)
    )

"Weights": with ``weights`` set, the answer is derived from the seed and the conversation
(same prompt → same answer, at any temperature; another seed → another answer), so a
test can swap the model behind the same served name by changing ``weights``. With
``nondeterministic`` the answer is random words every time, even at temperature 0.

Faults: ``drop`` aborts the connection mid-body; ``eof`` ends the body cleanly but without
``[DONE]``; ``garbage`` sends a malformed SSE event (bad JSON) and carries on; ``error``
sends vLLM's in-band ``{"error": …}`` chunk then ``[DONE]``; ``stall`` sends nothing more,
ever (until the client goes away). ``FakeModel.naming_itself("Qwen", "Alibaba Cloud")``
answers "I am Qwen, created by Alibaba Cloud. …". Error bodies and chunks deliberately carry
the served name and a ``system_fingerprint``, so tests can check that nothing leaks.

One request handler, :func:`handle`, is the server; three ways to reach it:

* :class:`FakeServer` — :func:`fake_app` under a real uvicorn on a free loopback port in a
  background thread (:class:`serving.threaded.ThreadedServer`)::

      with FakeServer(FakeModel(first_token_delay=0.5)) as server:
          endpoint = server.endpoint()      # serving.client.Endpoint
          server.model.status = 500         # live change
          server.requests                   # JSON bodies received, in order
          server.model.headers              # their headers (lower-case names), in order

* :func:`fake_transport` — :func:`handle` behind ``httpx.MockTransport``, streaming the same
  bytes (drop becomes ``httpx.RemoteProtocolError``); any base URL.
* :func:`fake_app` — :func:`handle` as a Starlette app (``httpx.ASGITransport`` buffers whole
  bodies, so use the other two for timing faults and ``stall``).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from serving.client import Endpoint
from serving.threaded import ThreadedServer

Fault = Literal["drop", "eof", "garbage", "error", "stall"]
FINGERPRINT = "fp_fake_0123abcd"
CHAT = "/v1/chat/completions"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass
class FakeModel:
    served_name: str = "fake-model"
    answer: str = "The quick brown fox jumps over the lazy dog."
    tokens_per_second: float | None = None
    first_token_delay: float = 0.0
    status: int = 200
    health_status: int | None = 200
    list_model: bool = True
    fault: Fault | None = None
    fault_after: int = 2
    weights: int | None = None
    nondeterministic: bool = False
    accepts_seed: bool = True
    requests: list[dict[str, Any]] = field(default_factory=list, repr=False)
    headers: list[dict[str, str]] = field(default_factory=list, repr=False)

    @classmethod
    def naming_itself(cls, name: str, organization: str, **kwargs: Any) -> FakeModel:
        answer = f"I am {name}, created by {organization}. How can I help you today?"
        return cls(answer=answer, **kwargs)

    def reply_text(self, body: dict[str, Any]) -> str:
        """The answer to one request body."""
        if self.nondeterministic:
            return babble(random.Random(), 24)
        if self.weights is None:
            return self.answer
        conversation = orjson.dumps(body.get("messages"), option=orjson.OPT_SORT_KEYS)
        seed = hashlib.sha256(str(self.weights).encode() + b"\0" + conversation).digest()
        return babble(random.Random(seed), 24)

    def tokens(self, body: dict[str, Any] | None = None) -> list[str]:
        text = self.answer if body is None else self.reply_text(body)
        return re.findall(r"\s*\S+", text) or [""]


# fmt: off
_WORDS = (
    "amber", "river", "quiet", "lantern", "orbit", "meadow", "copper", "signal", "harbor",
    "velvet", "summit", "echo", "granite", "willow", "ember", "tide", "falcon", "prism", "cedar",
    "drift", "marble", "thunder", "saffron", "glacier", "cobalt", "ripple", "lunar", "forest",
    "static", "canyon", "mirror", "pepper", "horizon", "ivory", "tundra", "basalt", "comet",
    "violet", "spire", "nectar", "quartz", "raven", "solstice", "bramble", "delta", "fable",
    "garnet", "hollow", "indigo", "jasmine", "kelp",
)
# fmt: on


def babble(rng: random.Random, count: int) -> str:
    words = [rng.choice(_WORDS) for _ in range(count)]
    return " ".join(words).capitalize() + "."


class DropConnection(Exception):
    """Raised inside the body to abort the connection (fault ``drop``)."""


def _chunk(model: FakeModel, n: int, delta: dict[str, Any], reason: str | None) -> bytes:
    payload = {
        "id": f"chatcmpl-fake{n:04d}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model.served_name,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}],
    }
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _error_body(model: FakeModel, status: int) -> dict[str, Any]:
    message = f"fake failure {status} in {model.served_name} (fingerprint {FINGERPRINT})"
    return {
        "error": {"message": message, "type": "InternalServerError", "param": None, "code": status}
    }


async def sse_stream(model: FakeModel, body: dict[str, Any]) -> AsyncIterator[bytes]:
    """The SSE bytes of one streamed answer, faults included."""
    tokens = model.tokens(body)
    max_tokens = int(body.get("max_tokens") or len(tokens))
    tokens, reason = (
        (tokens[:max_tokens], "length") if max_tokens < len(tokens) else (tokens, "stop")
    )
    usage = bool((body.get("stream_options") or {}).get("include_usage"))
    yield _chunk(model, 0, {"role": "assistant", "content": ""}, None)
    if model.first_token_delay:
        await asyncio.sleep(model.first_token_delay)
    gap = 1.0 / model.tokens_per_second if model.tokens_per_second else 0.0
    for i, token in enumerate(tokens):
        if model.fault is not None and i == model.fault_after:
            async for part in _fault(model):
                yield part
            if model.fault != "garbage":
                return
        if i and gap:
            await asyncio.sleep(gap)
        last = i == len(tokens) - 1 and reason == "length"
        yield _chunk(model, i + 1, {"content": token}, "length" if last else None)
    if reason == "stop":
        yield _chunk(model, len(tokens) + 1, {"content": ""}, "stop")
    if usage:
        prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        payload = {
            "id": "chatcmpl-fake-usage",
            "object": "chat.completion.chunk",
            "model": model.served_name,
            "choices": [],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": len(tokens),
                "total_tokens": prompt + len(tokens),
            },
            "system_fingerprint": FINGERPRINT,
        }
        yield b"data: " + orjson.dumps(payload) + b"\n\n"
    yield b"data: [DONE]\n\n"


async def _fault(model: FakeModel) -> AsyncIterator[bytes]:
    if model.fault == "drop":
        raise DropConnection
    if model.fault == "garbage":
        yield b'data: {"choices": [{"delta": {"content": "oops"\n\n'
    elif model.fault == "error":
        yield b"data: " + orjson.dumps(_error_body(model, 500)) + b"\n\n"
        yield b"data: [DONE]\n\n"
    elif model.fault == "stall":
        await asyncio.Event().wait()


def _completion(model: FakeModel, body: dict[str, Any]) -> dict[str, Any]:
    every = model.tokens(body)
    tokens = every[: int(body.get("max_tokens") or 10**9)]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model.served_name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(tokens)},
                "finish_reason": "length" if len(tokens) < len(every) else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 1,
            "completion_tokens": len(tokens),
            "total_tokens": 1 + len(tokens),
        },
        "system_fingerprint": FINGERPRINT,
    }


def _models(model: FakeModel) -> dict[str, Any]:
    data = [
        {
            "id": model.served_name,
            "object": "model",
            "owned_by": "fake",
            "root": f"/models/{model.served_name}",
            "max_model_len": 2048,
        }
    ]
    return {"object": "list", "data": data if model.list_model else []}


@dataclass
class Reply:
    """What the fake server answers; ``stream`` replaces ``body`` for SSE."""

    status: int
    body: bytes = b""
    media_type: str | None = None
    stream: AsyncIterator[bytes] | None = None


def _json(payload: Any, status: int = 200) -> Reply:
    return Reply(status, orjson.dumps(payload), "application/json")


def _refusal(model: FakeModel, body: Any) -> Reply | None:
    if model.status != 200:
        return _json(_error_body(model, model.status), model.status)
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return _json(
            {"error": {"message": "messages required", "type": "BadRequest", "code": 400}}, 400
        )
    if "seed" in body and not model.accepts_seed:
        message = "Unrecognized request argument supplied: seed"
        return _json({"error": {"message": message, "type": "BadRequest", "code": 400}}, 400)
    if body.get("model") not in (None, model.served_name):
        message = f"The model `{body['model']}` does not exist."
        return _json({"error": {"message": message, "type": "NotFoundError", "code": 404}}, 404)
    return None


async def handle(
    model: FakeModel, method: str, path: str, raw: bytes, headers: Mapping[str, str] | None = None
) -> Reply:
    """The whole fake server: one request in, one reply out (both adapters call this)."""
    # Unknown paths and methods answer as vLLM's FastAPI does.
    routes = {"/health": ("GET", "HEAD"), "/v1/models": ("GET", "HEAD"), CHAT: ("POST",)}
    if path not in routes:
        return _json({"detail": "Not Found"}, 404)
    if method not in routes[path]:
        return _json({"detail": "Method Not Allowed"}, 405)
    if path == "/health":
        if model.health_status is None:
            return _json({"detail": "Not Found"}, 404)
        return Reply(model.health_status)
    if path == "/v1/models":
        return _json(_models(model))
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        model.requests.append(body)
        model.headers.append({k.lower(): v for k, v in (headers or {}).items()})
    refused = _refusal(model, body)
    if refused is not None:
        return refused
    assert isinstance(body, dict)
    if not body.get("stream"):
        return _json(_completion(model, body))
    return Reply(200, media_type="text/event-stream", stream=sse_stream(model, body))


def fake_app(model: FakeModel) -> Starlette:
    """:func:`handle` as a Starlette app."""

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        reply = await handle(model, request.method, request.url.path, body, request.headers)
        if reply.stream is not None:
            return StreamingResponse(reply.stream, reply.status, media_type=reply.media_type)
        return Response(reply.body, reply.status, media_type=reply.media_type)

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=METHODS)])


class _MockStream(httpx.AsyncByteStream):
    """Streams a reply, emulating the client's read timeout between chunks."""

    def __init__(self, parts: AsyncIterator[bytes], read_timeout: float | None):
        self._parts = parts
        self._read_timeout = read_timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            try:
                async with asyncio.timeout(self._read_timeout):
                    part = await anext(self._parts)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise httpx.ReadTimeout("fake read timeout") from None
            except DropConnection:
                raise httpx.RemoteProtocolError("peer closed connection (fake drop)") from None
            yield part

    async def aclose(self) -> None:
        await self._parts.aclose()  # type: ignore[attr-defined]


def fake_transport(model: FakeModel) -> httpx.MockTransport:
    """:func:`handle` as an ``httpx.MockTransport`` (streams; any host name works)."""

    async def handler(request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        reply = await handle(model, request.method, request.url.path, body, request.headers)
        headers = {"content-type": reply.media_type} if reply.media_type else {}
        if reply.stream is None:
            return httpx.Response(reply.status, headers=headers, content=reply.body)
        read_timeout = request.extensions.get("timeout", {}).get("read")
        return httpx.Response(
            reply.status, headers=headers, stream=_MockStream(reply.stream, read_timeout)
        )

    return httpx.MockTransport(handler)


class FakeServer(ThreadedServer):
    """:func:`fake_app` under a real uvicorn on ``127.0.0.1:<free port>`` in a thread."""

    def __init__(self, model: FakeModel | None = None, host: str = "127.0.0.1") -> None:
        self.model = model or FakeModel()
        super().__init__(
            fake_app(self.model), host=host, log_level="critical", timeout_graceful_shutdown=1
        )

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.model.requests

    def endpoint(self, api_key: str | None = None) -> Endpoint:
        return Endpoint(self.base_url, self.model.served_name, api_key)


def main(argv: list[str] | None = None) -> None:
    """``python -m serving.fakes --served-model-name M --host H --port P [vLLM flags]``.

    Stands in for a vLLM server in launcher tests: takes vLLM's flags, ignores the rest.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m serving.fakes")
    parser.add_argument("model_tag", nargs="?")
    parser.add_argument("--served-model-name", default="fake-model")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fake-first-token-delay", type=float, default=0.0)
    args, _ = parser.parse_known_args(argv)
    model = FakeModel(
        served_name=args.served_model_name, first_token_delay=args.fake_first_token_delay
    )
    uvicorn.run(fake_app(model), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
