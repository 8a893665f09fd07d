"""Properties of the streaming client's SSE parsing, driven through ``httpx.MockTransport``.

Whatever the byte boundaries (inside a multi-byte character, between ``\\r`` and ``\\n``),
an OpenAI stream yields the same events; anything malformed ends in :class:`BackendError`
and in no other exception.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from serving.client import (
    BackendError,
    Delta,
    Done,
    Endpoint,
    Finish,
    TextDelta,
    Usage,
    stream_chat,
)
from tests.properties.support import props

ENDPOINT = Endpoint("http://models.test/v1", "m")
MESSAGES = [{"role": "user", "content": "hi"}]
# Characters str.splitlines() breaks on besides \n and \r; JSON encoders leave the last
# three unescaped, so they reach the wire raw inside a token.
OTHER_LINE_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
SSE_PREFIXES = ("data:", ":", "event:", "id:", "retry:")


class Parts(httpx.AsyncByteStream):
    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part


async def _collect(parts: list[bytes]) -> list[Delta]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=Parts(parts)
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        return [event async for event in stream_chat(client, ENDPOINT, MESSAGES)]


def read(parts: list[bytes]) -> list[Delta]:
    """Every event of one stream delivered in ``parts``."""
    return asyncio.run(_collect(parts))


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(body), *cuts})
    return [body[a:b] for a, b in itertools.pairwise(points) if b > a]


@dataclass(frozen=True)
class Stream:
    """An OpenAI chat-completion stream, as vLLM writes it (with a few legal variations)."""

    texts: tuple[str, ...]
    reason: str = "stop"
    usage: tuple[int, int, int] | None = None
    newline: str = "\n"
    role_chunk: bool = True
    reason_with_last_text: bool = False
    noise: bool = False  # comments, event: and id: lines
    space: bool = True  # "data: x" or "data:x"

    def chunks(self) -> list[dict[str, object]]:
        def chunk(delta: dict[str, str], reason: str | None = None) -> dict[str, object]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
            return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [choice]}

        out = [chunk({"role": "assistant", "content": ""})] if self.role_chunk else []
        texts = list(self.texts)
        last = texts.pop() if self.reason_with_last_text and texts else None
        out += [chunk({"content": t}) for t in texts]
        out.append(chunk({} if last is None else {"content": last}, self.reason))
        if self.usage is not None:
            p, c, t = self.usage
            usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": t}
            out.append({"id": "chatcmpl-1", "choices": [], "usage": usage})
        return out

    def lines(self) -> list[str]:
        data = "data: " if self.space else "data:"
        out = []
        for k, payload in enumerate(self.chunks()):
            if self.noise:
                out += [": keep-alive", "event: message", f"id: {k}"]
            out += [data + orjson.dumps(payload).decode(), ""]
        return [*out, data + "[DONE]", ""]

    def encode(self) -> bytes:
        return "".join(line + self.newline for line in self.lines()).encode()

    def expected(self) -> list[Delta]:
        events: list[Delta] = [TextDelta(t) for t in self.texts if t]
        events.append(Finish(self.reason))
        if self.usage is not None:
            events.append(Usage(*self.usage))
        return events


tokens = st.text(st.characters(exclude_categories=["Cs"]), max_size=6)
streams = st.builds(
    Stream,
    texts=st.lists(tokens, max_size=8).map(tuple),
    reason=st.sampled_from(["stop", "length", "content_filter"]) | st.text(min_size=1, max_size=8),
    usage=st.none() | st.tuples(*[st.integers(0, 10**6)] * 3),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    role_chunk=st.booleans(),
    reason_with_last_text=st.booleans(),
    noise=st.booleans(),
    space=st.booleans(),
)


# A cut is (awkward, n): awkward cuts land mid-character or right after a "\r".
cuts = st.lists(st.tuples(st.booleans(), st.integers(0, 10**6)), max_size=24)


def cut_at(body: bytes, cuts: list[tuple[bool, int]]) -> list[bytes]:
    awkward = [k for k in range(1, len(body)) if body[k] & 0xC0 == 0x80 or body[k - 1] == 13]
    points = [
        awkward[n % len(awkward)] if hard and awkward else n % (len(body) + 1) for hard, n in cuts
    ]
    return split(body, points)


def _without_done(events: list[Delta]) -> list[Delta]:
    assert events and isinstance(events[-1], Done)
    assert all(not isinstance(e, Done) for e in events[:-1])
    return events[:-1]


@props(120)
@example(Stream(texts=("a\u2028b",)), [])  # U+2028 LINE SEPARATOR inside a token
@example(Stream(texts=("\x85",), newline="\r\n"), [])  # U+0085 NEXT LINE
@example(Stream(texts=("é", "日本"), newline="\r\n"), [(True, k) for k in range(12)])
@given(streams, cuts)
def test_any_split_of_a_stream_yields_the_same_events(
    stream: Stream, cuts: list[tuple[bool, int]]
) -> None:
    events = read(cut_at(stream.encode(), cuts))
    assert _without_done(events) == stream.expected()
    done = events[-1]
    assert isinstance(done, Done) and done.stats.finish_reason == stream.reason
    assert done.stats.chars == sum(len(t) for t in stream.texts)


garbage_lines = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\n\r" + OTHER_LINE_BREAKS),
    min_size=1,
    max_size=20,
).filter(lambda s: not s.startswith(SSE_PREFIXES))


def _not_a_json_object(text: str) -> bool:
    try:
        return not isinstance(orjson.loads(text), dict)
    except orjson.JSONDecodeError:
        return True


garbage_payloads = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\n\r" + OTHER_LINE_BREAKS),
    max_size=20,
).filter(lambda s: s != "[DONE]" and _not_a_json_object(s))


@props(80)
@given(streams, st.integers(0, 10**6), garbage_lines | garbage_payloads.map("data: ".__add__))
def test_a_garbage_line_is_a_protocol_error(stream: Stream, where: int, garbage: str) -> None:
    lines = stream.lines()
    # Between two events, up to the [DONE] line (which ends reading).
    boundaries = [0] + [k + 1 for k, line in enumerate(lines[:-2]) if line == ""]
    at = boundaries[where % len(boundaries)]
    lines = [*lines[:at], garbage, "", *lines[at:]]
    body = "".join(line + stream.newline for line in lines).encode()
    try:
        read([body])
    except BackendError as err:
        assert err.kind == "protocol"
    else:
        raise AssertionError(f"garbage {garbage!r} was accepted")


@props(80)
@given(streams, st.data())
def test_a_stream_cut_short_is_never_a_complete_answer(stream: Stream, data: st.DataObject) -> None:
    body = stream.encode()
    done_ends = body.rindex(b"[DONE]") + len(b"[DONE]")
    cut = data.draw(st.integers(0, len(body)), label="cut")
    try:
        events = read([body[:cut]])
    except BackendError as err:
        assert cut < done_ends, err
    else:
        assert cut >= done_ends
        assert _without_done(events) == stream.expected()


@st.composite
def damaged(draw: st.DrawFn) -> list[bytes]:
    """Random bytes, or a real stream with bytes overwritten, inserted or dropped."""
    if draw(st.booleans()):
        body = bytearray(draw(st.binary(max_size=300)))
    else:
        body = bytearray(draw(streams).encode())
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(body)))
            edit = draw(st.sampled_from(["set", "insert", "drop"]))
            if edit == "insert" or at == len(body):
                body[at:at] = draw(st.binary(min_size=1, max_size=8))
            elif edit == "set":
                body[at] = draw(st.integers(0, 255))
            else:
                del body[at : at + draw(st.integers(1, 8))]
    return split(bytes(body), draw(st.lists(st.integers(0, len(body)), max_size=8)))


@props(150)
@example([b'data: {"choices": [], "usage": {"prompt_tokens": 1e300}}\n\n'])
@example([b'data: {"choices": [{"delta": {"content": 5}}]}\n\n'])
@example([b"data: \xff\xfe\n\n"])
@given(damaged())
def test_damaged_streams_end_in_events_or_backend_error_only(parts: list[bytes]) -> None:
    try:
        events = read(parts)
    except BackendError as err:
        assert err.message  # the voter-safe text is always there
        return
    body = _without_done(events)
    assert sum(isinstance(e, Finish) for e in body) >= 1
    assert all(isinstance(e, TextDelta | Finish | Usage) for e in body)
