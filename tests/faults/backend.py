"""A fake model server as a process of its own, so that a test can SIGKILL or SIGSTOP it.

``python -m tests.faults.backend --port P --served-model-name M --answer TEXT
--tokens-per-second N`` serves :func:`serving.fakes.handle` and prints one line
``chunk <n>`` (flushed) after each streamed SSE chunk, so the test knows how far an answer
got without timing it.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from serving.fakes import METHODS, FakeModel, handle


def app(model: FakeModel) -> Starlette:
    async def endpoint(request: Request) -> Response:
        reply = await handle(model, request.method, request.url.path, await request.body())
        if reply.stream is None:
            return Response(reply.body, reply.status, media_type=reply.media_type)
        stream = reply.stream

        async def reported() -> AsyncIterator[bytes]:
            n = 0
            async for part in stream:
                yield part
                n += 1
                print(f"chunk {n}", flush=True)

        return StreamingResponse(reported(), reply.status, media_type=reply.media_type)

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=METHODS)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.backend")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--served-model-name", default="fake-model")
    parser.add_argument("--answer", default="The quick brown fox jumps over the lazy dog.")
    parser.add_argument("--tokens-per-second", type=float, default=None)
    args = parser.parse_args(argv)
    model = FakeModel(
        served_name=args.served_model_name,
        answer=args.answer,
        tokens_per_second=args.tokens_per_second,
    )
    uvicorn.run(app(model), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
