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
    )

Faults: ``drop`` aborts the connection mid-body; ``eof`` ends the body cleanly but without
``[DONE]``; ``garbage`` sends a malformed SSE event (bad JSON) and carries on; ``error``
sends vLLM's in-band ``{"error": …}`` chunk then ``[DONE]``; ``stall`` sends nothing more,
ever (until the client goes away). ``FakeModel.naming_itself("Qwen", "Alibaba Cloud")``
answers "I am Qwen, created by Alibaba Cloud. …". Error bodies and chunks deliberately carry
the served name and a ``system_fingerprint``, so tests can check that nothing leaks.

Three ways to use it:

* :class:`FakeServer` — a real uvicorn on a free loopback port in a background thread::

      with FakeServer(FakeModel(first_token_delay=0.5)) as server:
          endpoint = server.endpoint()      # serving.client.Endpoint
          server.model.status = 500         # live change
          server.requests                   # JSON bodies received, in order

* :func:`fake_transport` — an ``httpx.MockTransport`` streaming the same bytes (drop becomes
  ``httpx.RemoteProtocolError``); base URL ``http://fake``.
* :func:`fake_app` — the Starlette app itself (``httpx.ASGITransport`` buffers whole bodies,
  so use the other two for timing faults and ``stall``).
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from serving.client import Endpoint

Fault = Literal["drop", "eof", "garbage", "error", "stall"]
FINGERPRINT = "fp_fake_0123abcd"


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
    requests: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @classmethod
    def naming_itself(cls, name: str, organization: str, **kwargs: Any) -> FakeModel:
        answer = f"I am {name}, created by {organization}. How can I help you today?"
        return cls(answer=answer, **kwargs)

    def tokens(self) -> list[str]:
        return re.findall(r"\s*\S+", self.answer) or [""]


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
    tokens = model.tokens()
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
    tokens = model.tokens()[: int(body.get("max_tokens") or 10**9)]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model.served_name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(tokens)},
                "finish_reason": "length" if len(tokens) < len(model.tokens()) else "stop",
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


def _check_request(model: FakeModel, body: Any) -> Response | None:
    if model.status != 200:
        return JSONResponse(_error_body(model, model.status), status_code=model.status)
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return JSONResponse(
            {"error": {"message": "messages required", "type": "BadRequest", "code": 400}},
            status_code=400,
        )
    if body.get("model") not in (None, model.served_name):
        message = f"The model `{body['model']}` does not exist."
        return JSONResponse(
            {"error": {"message": message, "type": "NotFoundError", "code": 404}}, 404
        )
    return None


def fake_app(model: FakeModel) -> Starlette:
    """The fake server as a Starlette app (routes /health, /v1/models, /v1/chat/completions)."""

    async def health(request: Request) -> Response:
        if model.health_status is None:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        return Response(status_code=model.health_status)

    async def models(request: Request) -> Response:
        return JSONResponse(_models(model))

    async def chat(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict):
            model.requests.append(body)
        refused = _check_request(model, body)
        if refused is not None:
            return refused
        assert isinstance(body, dict)
        if not body.get("stream"):
            return JSONResponse(_completion(model, body))
        return StreamingResponse(sse_stream(model, body), media_type="text/event-stream")

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/v1/models", models),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ]
    )


class _MockStream(httpx.AsyncByteStream):
    """Streams :func:`sse_stream`, emulating the client's read timeout between chunks."""

    def __init__(self, model: FakeModel, body: dict[str, Any], read_timeout: float | None):
        self._parts = sse_stream(model, body)
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
    """The same behaviour through ``httpx.MockTransport`` (streams; any host name works)."""

    async def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/health":
            return httpx.Response(404 if model.health_status is None else model.health_status)
        if path == "/v1/models":
            return httpx.Response(200, json=_models(model))
        if path != "/v1/chat/completions" or request.method != "POST":
            return httpx.Response(404, json={"detail": "Not Found"})
        try:
            body = orjson.loads(await request.aread())
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict):
            model.requests.append(body)
        refused = _check_request(model, body)
        if refused is not None:
            return httpx.Response(refused.status_code, content=bytes(refused.body))
        assert isinstance(body, dict)
        if not body.get("stream"):
            return httpx.Response(200, json=_completion(model, body))
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream; charset=utf-8"},
            stream=_MockStream(model, body, request.extensions.get("timeout", {}).get("read")),
        )

    return httpx.MockTransport(handler)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class FakeServer:
    """:func:`fake_app` under a real uvicorn on ``127.0.0.1:<free port>`` in a thread."""

    def __init__(self, model: FakeModel | None = None, host: str = "127.0.0.1") -> None:
        self.model = model or FakeModel()
        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            fake_app(self.model),
            log_level="critical",
            lifespan="off",
            timeout_graceful_shutdown=1,
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.model.requests

    def endpoint(self, api_key: str | None = None) -> Endpoint:
        return Endpoint(self.base_url, self.model.served_name, api_key)

    def start(self) -> FakeServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)


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
