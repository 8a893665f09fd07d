"""The SSE reader's bounds: a line that never ends is refused, not buffered for ever."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from serving.sse import MAX_LINE_CHARS, MalformedLine, sse_data


class Endless(httpx.AsyncByteStream):
    """`data: xxxx…` without a newline, in 64 KiB chunks, far past the bound."""

    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"data: "
        while self.sent < 4 * MAX_LINE_CHARS:
            self.sent += 65536
            yield b"x" * 65536


async def read_all(stream: httpx.AsyncByteStream) -> list[str]:
    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=stream, headers={"content-type": "text/event-stream"})

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client,
        client.stream("GET", "http://backend/") as response,
    ):
        return [data async for data in sse_data(response)]


async def test_a_line_that_never_ends_is_refused_early() -> None:
    stream = Endless()
    with pytest.raises(MalformedLine, match="longer than"):
        await read_all(stream)
    # It stopped reading soon after the bound, not at the end of the stream.
    assert stream.sent <= MAX_LINE_CHARS + 2 * 65536


async def test_long_lines_under_the_bound_are_read() -> None:
    body = b"data: " + b"y" * (MAX_LINE_CHARS // 2) + b"\n\n"

    class One(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for i in range(0, len(body), 50_000):
                yield body[i : i + 50_000]

    assert await read_all(One()) == ["y" * (MAX_LINE_CHARS // 2)]
