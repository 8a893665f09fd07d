"""Server-sent events as the WHATWG spec frames them, read from an httpx streaming response."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx

_EOL = re.compile(r"\r\n|\r|\n")
# No chunk of a chat completion comes near this; a server that never ends its line must not
# grow our buffer without bound.
MAX_LINE_CHARS = 1 << 20


class MalformedLine(ValueError):
    """A line that is neither a field, a comment nor blank, or one that never ends."""


async def sse_lines(response: httpx.Response) -> AsyncIterator[str]:
    """Lines as SSE defines them: ended by CRLF, CR or LF only. `aiter_lines` also splits on
    U+0085, U+2028 and U+2029, which JSON encoders leave raw inside answers."""
    pending = ""
    async for chunk in response.aiter_text():
        pending += chunk
        # A CR at the end of a chunk may be the first half of a CRLF: hold it back.
        hold = "\r" if pending.endswith("\r") else ""
        parts = _EOL.split(pending[: len(pending) - len(hold)])
        pending = parts.pop() + hold
        if len(pending) > MAX_LINE_CHARS:
            raise MalformedLine(f"SSE line longer than {MAX_LINE_CHARS} characters")
        for line in parts:
            yield line
    if pending:
        yield pending.removesuffix("\r")


async def sse_data(response: httpx.Response) -> AsyncIterator[str]:
    """The ``data`` of each server-sent event (multi-line data joined with newlines)."""
    lines: list[str] = []
    async for line in sse_lines(response):
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
        elif line.startswith("data:"):
            value = line[5:]
            lines.append(value[1:] if value.startswith(" ") else value)
        elif line.startswith((":", "event:", "id:", "retry:")):
            continue
        else:
            raise MalformedLine(f"malformed SSE line: {line[:200]!r}")
    if lines:
        yield "\n".join(lines)
