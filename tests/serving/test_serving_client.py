"""The streaming client against the fake server: over real loopback HTTP and MockTransport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from serving.client import (
    BackendError,
    Delta,
    Done,
    Endpoint,
    Finish,
    TextDelta,
    Usage,
    complete_chat,
    make_http_client,
    stream_chat,
)
from serving.fakes import FakeModel, FakeServer, fake_transport

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


@dataclass
class Target:
    client: httpx.AsyncClient
    endpoint: Endpoint
    model: FakeModel


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(FakeModel(served_name="secret-model-7b")) as srv:
        yield srv


@pytest.fixture(params=["loopback", "mock"])
async def target(request: pytest.FixtureRequest, server: FakeServer) -> AsyncIterator[Target]:
    model = server.model
    # Reset the shared model between tests.
    for key, value in vars(FakeModel(served_name="secret-model-7b")).items():
        if key != "requests":
            setattr(model, key, value)
    model.requests.clear()
    if request.param == "loopback":
        async with make_http_client(read=1.0) as client:
            yield Target(client, server.endpoint(), model)
    else:
        async with make_http_client(read=1.0, transport=fake_transport(model)) as client:
            yield Target(client, Endpoint("http://fake.invalid", model.served_name), model)


async def collect(target: Target, **kwargs: object) -> list[Delta]:
    return [e async for e in stream_chat(target.client, target.endpoint, MESSAGES, **kwargs)]  # type: ignore[arg-type]


def text_of(events: list[Delta]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_streams_typed_events_and_stats(target: Target) -> None:
    target.model.tokens_per_second = 500
    events = await collect(target, max_tokens=100)
    assert text_of(events) == target.model.answer
    tail = events[-3:]
    assert tail[0] == Finish("stop")
    assert isinstance(tail[1], Usage) and tail[1].completion_tokens == 9
    assert isinstance(tail[2], Done)
    stats = tail[2].stats
    assert stats.ttft is not None and stats.ttft >= 0
    assert stats.output_tokens == 9 and stats.deltas == 9
    assert stats.tokens_per_s is not None and stats.tokens_per_s > 0
    assert stats.finish_reason == "stop"


async def test_request_body(target: Target) -> None:
    await collect(target, max_tokens=7, temperature=0.3, extra={"seed": 1})
    body = target.model.requests[-1]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["model"] == "secret-model-7b"
    assert body["messages"] == MESSAGES
    assert (body["max_tokens"], body["temperature"], body["seed"]) == (7, 0.3, 1)


async def test_length_finish_rides_on_last_content_chunk(target: Target) -> None:
    events = await collect(target, max_tokens=3)
    assert text_of(events) == "The quick brown"
    assert [e for e in events if isinstance(e, Finish)] == [Finish("length")]


async def test_slow_first_token_is_measured(target: Target) -> None:
    target.model.first_token_delay = 0.3
    events = await collect(target)
    done = events[-1]
    assert isinstance(done, Done)
    assert done.stats.ttft is not None and done.stats.ttft >= 0.3


async def test_only_our_event_types_reach_the_caller(target: Target) -> None:
    events = await collect(target)
    assert {type(e) for e in events} <= {TextDelta, Finish, Usage, Done}
    flat = repr(events)
    for leak in ("secret-model-7b", "fp_fake", "chatcmpl"):
        assert leak not in flat


FAULTS = [
    ("status500", "http"),
    ("status404", "http"),
    ("drop", "eof"),
    ("eof", "eof"),
    ("garbage", "protocol"),
    ("error", "upstream"),
    ("stall", "timeout"),
]


@pytest.mark.parametrize(("fault", "kind"), FAULTS)
async def test_every_failure_is_one_safe_error(target: Target, fault: str, kind: str) -> None:
    if fault.startswith("status"):
        target.model.status = int(fault.removeprefix("status"))
    else:
        target.model.fault = fault  # type: ignore[assignment]
    received: list[Delta] = []
    with pytest.raises(BackendError) as info:
        async for event in stream_chat(target.client, target.endpoint, MESSAGES):
            received.append(event)
    err = info.value
    assert err.kind == kind
    if fault.startswith("status"):
        assert err.status == int(fault.removeprefix("status"))
    else:
        # Content before the fault arrived, then the error; stats kept what was seen.
        assert text_of(received) == "The quick"
        assert err.stats is not None and err.stats.deltas == 2
    shown = f"{err} {err.message} {err!r} {err.args}"
    for leak in ("secret-model-7b", "127.0.0.1", "fake.invalid", "http://", "fp_fake"):
        assert leak not in shown
    assert err.detail  # the raw cause is kept for logs


async def test_error_body_detail_is_kept_for_logs(target: Target) -> None:
    target.model.status = 500
    with pytest.raises(BackendError) as info:
        await collect(target)
    assert "secret-model-7b" in info.value.detail
    assert "secret-model-7b" not in info.value.message


async def test_connect_error() -> None:
    async with make_http_client(connect=1.0) as client:
        # Port 9 (discard) on loopback: nothing listens there.
        endpoint = Endpoint("http://127.0.0.1:9/v1", "m")
        with pytest.raises(BackendError) as info:
            await anext(aiter(stream_chat(client, endpoint, MESSAGES)))
    assert info.value.kind == "connect"
    assert "127.0.0.1" not in info.value.message
    assert info.value.detail


def mock_client(handler: object) -> httpx.AsyncClient:
    return make_http_client(transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


SSE = {"content-type": "text/event-stream"}


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (httpx.Response(200, json={"choices": []}), "protocol"),  # JSON instead of SSE
        (httpx.Response(200, headers=SSE, content=b"data: [DONE]\n\n"), "protocol"),
        (httpx.Response(200, headers=SSE, content=b"hello\n\n"), "protocol"),
        (httpx.Response(200, headers=SSE, content=b"data: [1, 2]\n\n"), "protocol"),
        (httpx.Response(200, headers=SSE, content=b'data: {"choices": 3}\n\n'), "protocol"),
        (httpx.Response(200, headers=SSE, content=b"data: \xff\xfe\n\n"), "protocol"),
        (httpx.Response(302, headers={"location": "http://169.254.169.254/"}), "http"),
        (httpx.Response(503, text="<html>busy</html>"), "http"),
    ],
)
async def test_malformed_responses(response: httpx.Response, kind: str) -> None:
    async with mock_client(lambda request: response) as client:
        with pytest.raises(BackendError) as info:
            [e async for e in stream_chat(client, Endpoint("http://x", "m"), MESSAGES)]
    assert info.value.kind == kind


async def test_multiline_data_comments_and_api_key() -> None:
    seen: list[httpx.Request] = []
    body = (
        b": keep-alive\n\n"
        b'data: {"choices": [{"index": 0, "delta": {"content": "Hi"},\n'
        b'data:  "finish_reason": "stop"}]}\n\n'
        b"data: [DONE]\n\n"
    )

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers=SSE, content=body)

    async with mock_client(handler) as client:
        endpoint = Endpoint("http://x/v1/", "m", api_key="sk-test")
        events = [e async for e in stream_chat(client, endpoint, MESSAGES)]
    assert events[:2] == [TextDelta("Hi"), Finish("stop")]
    assert seen[0].url == "http://x/v1/chat/completions"
    assert seen[0].headers["authorization"] == "Bearer sk-test"
    assert "sk-test" not in repr(endpoint)


async def test_non_streamed_completion(target: Target) -> None:
    result = await complete_chat(target.client, target.endpoint, MESSAGES, max_tokens=4)
    assert result.text == "The quick brown fox"
    assert result.finish_reason == "length"
    assert result.usage is not None and result.usage.completion_tokens == 4
    target.model.status = 500
    with pytest.raises(BackendError) as info:
        await complete_chat(target.client, target.endpoint, MESSAGES)
    assert info.value.kind == "http" and "secret-model-7b" not in str(info.value)


async def test_closing_early_closes_the_connection(target: Target) -> None:
    target.model.tokens_per_second = 50
    stream = stream_chat(target.client, target.endpoint, MESSAGES)
    first = await anext(aiter(stream))
    assert isinstance(first, TextDelta)
    await stream.aclose()  # type: ignore[attr-defined]


def test_client_factory_settings() -> None:
    client = make_http_client(connect=1, read=2, write=3, pool=4, max_connections=7)
    assert client.timeout == httpx.Timeout(connect=1, read=2, write=3, pool=4)
    assert client.follow_redirects is False
    assert client._transport._pool._max_connections == 7  # type: ignore[attr-defined]
