"""The SSRF guard: URL shape, address policy in every spelling, and the connect-time check.

No test touches a non-loopback address: names resolve through stubs, and connections to
"global" addresses land on an in-memory stream (or are re-routed to a loopback fake).
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpcore
import pytest
from hypothesis import given
from hypothesis import strategies as st

from serving.client import Endpoint
from serving.fakes import FakeServer
from serving.guard import (
    EndpointGuard,
    GuardedClient,
    RefusedConnection,
    UnsafeEndpoint,
    address_problem,
    check_url_shape,
    literal_address,
    make_guarded_client,
)
from serving.probes import probe

PUBLIC = "93.184.216.34"

REFUSED = [
    "127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
    "169.254.0.7", "100.64.0.1", "100.100.100.200", "0.0.0.0", "255.255.255.255",
    "224.0.0.1", "192.0.2.1", "198.18.0.1", "::", "::1", "fe80::1", "fc00::1", "fd12:3456::1",
    "fd00:ec2::254", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
    "64:ff9b::7f00:1", "2002:7f00:1::1", "::127.0.0.1", "2001:db8::1", "ff02::1",
]  # fmt: skip
ALLOWED = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
METADATA = ["169.254.169.254", "100.100.100.200", "fd00:ec2::254", "::ffff:169.254.169.254"]


async def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"{host} is a literal address and must not be resolved")


def stub_dns(table: dict[str, list[str]]) -> Any:
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


# --- the address policy -----------------------------------------------------------------


@pytest.mark.parametrize("address", REFUSED)
def test_non_global_addresses_are_refused(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_global_addresses_are_allowed(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("address", METADATA)
def test_metadata_refused_even_when_private_is_allowed(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address), allow_private=True) == "cloud metadata"


def test_private_allowed_when_configured() -> None:
    for address in ("127.0.0.1", "10.0.0.1", "::1", "fd12::1"):
        assert address_problem(ipaddress.ip_address(address), allow_private=True) is None


@pytest.mark.parametrize(
    "host",
    ["0x7f000001", "2130706433", "0177.0.0.1", "127.1", "0x7f.0.0.1", "017700000001",
     "[::1]", "[::ffff:7f00:1]", "127.0.0.1.", "0xA9FEA9FE", "0251.0376.0251.0376"],
)  # fmt: skip
async def test_every_spelling_of_a_private_address_is_refused(host: str) -> None:
    guard = EndpointGuard(resolver=no_dns)
    with pytest.raises(UnsafeEndpoint, match="not a public address"):
        await guard.check_url(f"http://{host}:8000/v1")


@given(
    st.sampled_from(["127.0.0.0/8", "10.0.0.0/8", "169.254.0.0/16", "192.168.0.0/16"]).flatmap(
        lambda net: st.integers(
            int(ipaddress.ip_network(net).network_address),
            int(ipaddress.ip_network(net).broadcast_address),
        )
    ),
    st.sampled_from(["decimal", "hex", "octal-dotted", "two-part"]),
)
def test_legacy_spellings_read_like_a_resolver(number: int, style: str) -> None:
    ip = ipaddress.IPv4Address(number)
    octets = ip.packed
    spelled = {
        "decimal": str(number),
        "hex": hex(number),
        "octal-dotted": ".".join(f"0{o:o}" for o in octets),
        "two-part": f"{octets[0]}.{number & 0xFFFFFF}",
    }[style]
    assert literal_address(spelled) == ip
    assert address_problem(ip) is not None


async def test_localhost_is_refused_through_the_system_resolver() -> None:
    with pytest.raises(UnsafeEndpoint, match="localhost resolves to a non-public address"):
        await EndpointGuard().check_url("http://localhost:8000")


async def test_one_private_answer_among_public_ones_is_enough_to_refuse() -> None:
    guard = EndpointGuard(resolver=stub_dns({"mixed.test": [PUBLIC, "10.9.9.9"]}))
    with pytest.raises(UnsafeEndpoint) as err:
        await guard.check_url("https://mixed.test")
    assert "10.9.9.9" not in str(err.value)  # internal DNS answers are not echoed
    guard = EndpointGuard(resolver=stub_dns({"ok.test": [PUBLIC, "2606:4700::1"]}))
    assert [str(a) for a in await guard.check_url("https://ok.test")] == [PUBLIC, "2606:4700::1"]


async def test_unresolvable_and_empty_answers_are_refused() -> None:
    guard = EndpointGuard(resolver=stub_dns({"empty.test": []}))
    with pytest.raises(UnsafeEndpoint, match="cannot resolve"):
        await guard.check_url("https://nowhere.test")
    with pytest.raises(UnsafeEndpoint, match="no address"):
        await guard.check_url("https://empty.test")


@pytest.mark.parametrize(
    "url",
    ["ftp://models.test/", "file:///etc/passwd", "gopher://models.test", "models.test:8000",
     "http://user:pw@models.test", "http://user@models.test", "http://:8000/", "http://",
     "http://models.test:99999/", "javascript:alert(1)"],
)  # fmt: skip
def test_url_shape_refusals(url: str) -> None:
    with pytest.raises(UnsafeEndpoint):
        check_url_shape(url)


def test_url_shape_defaults() -> None:
    assert check_url_shape("https://Models.Test/v1").port == 443
    assert check_url_shape("http://models.test:8080").host == "models.test"


# --- the connect-time check ---------------------------------------------------------------


class RecordingStream(httpcore.AsyncMockStream):
    def __init__(self, buffer: list[bytes], backend: RecordingBackend) -> None:
        super().__init__(buffer)
        self.backend = backend

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self.backend.sent += buffer

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        self.backend.sni.append(server_hostname)
        return self


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Answers every connection with canned HTTP bytes and records where it was asked to go."""

    def __init__(self, *responses: bytes) -> None:
        self.responses = list(responses)
        self.connected: list[tuple[str, int]] = []
        self.sent = b""
        self.sni: list[str | None] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connected.append((host, port))
        return RecordingStream([self.responses.pop(0)], self)

    async def sleep(self, seconds: float) -> None:
        pass


OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


def redirect_to(location: str) -> bytes:
    return f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()


@pytest.fixture
def dns() -> Any:
    return stub_dns({"models.acme.test": [PUBLIC], "rebind.test": [PUBLIC]})


def guarded(resolver: Any, backend: httpcore.AsyncNetworkBackend, **kw: Any) -> GuardedClient:
    return make_guarded_client(EndpointGuard(resolver=resolver, **kw), backend=backend)


async def test_connects_to_the_checked_address_keeping_host_and_sni(dns: Any) -> None:
    backend = RecordingBackend(OK, OK)
    async with guarded(dns, backend) as client:
        assert (await client.get("http://models.acme.test:8000/v1/models")).status_code == 200
        assert (await client.get("https://models.acme.test/v1/models")).status_code == 200
    assert backend.connected == [(PUBLIC, 8000), (PUBLIC, 443)]
    assert b"Host: models.acme.test:8000\r\n" in backend.sent
    assert backend.sni == ["models.acme.test"]


async def test_dns_rebinding_is_caught_at_connect_time() -> None:
    answers = [[PUBLIC], ["127.0.0.1"]]

    async def rebinding(host: str, port: int) -> list[str]:
        return answers.pop(0)

    backend = RecordingBackend(OK)
    async with guarded(rebinding, backend) as client:
        await client.guard.check_url("http://rebind.test/")  # registration: looks public
        with pytest.raises(RefusedConnection, match="non-public address"):
            await client.get("http://rebind.test/v1/models")
    assert backend.connected == []


async def test_redirects_are_not_followed(dns: Any) -> None:
    backend = RecordingBackend(redirect_to("http://169.254.169.254/latest/meta-data/"))
    async with guarded(dns, backend) as client:
        r = await client.get("http://models.acme.test/v1/models")
    assert r.status_code == 302 and backend.connected == [(PUBLIC, 80)]


async def test_a_redirect_followed_anyway_is_checked_like_any_connection(dns: Any) -> None:
    backend = RecordingBackend(redirect_to("http://127.0.0.1:8000/v1/models"))
    async with guarded(dns, backend) as client:
        with pytest.raises(RefusedConnection):
            await client.get("http://models.acme.test/v1/models", follow_redirects=True)
    assert backend.connected == [(PUBLIC, 80)]


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/", "http://10.0.0.1/", "http://169.254.169.254/", "http://[::1]:9/",
     "http://[fd00:ec2::254]/", "http://0x7f000001:9/", "http://localhost:9/"],
)  # fmt: skip
async def test_transport_refuses_before_connecting(url: str) -> None:
    backend = RecordingBackend(OK)
    async with guarded(None, backend) as client:
        with pytest.raises(RefusedConnection):
            await client.get(url)
    assert backend.connected == []


async def test_credentials_and_proxies_are_not_honoured(
    dns: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://10.0.0.1:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.0.0.1:3128")
    backend = RecordingBackend(OK)
    async with guarded(dns, backend) as client:
        with pytest.raises(RefusedConnection, match="credentials"):
            await client.get("http://user:pw@models.acme.test/")
        await client.get("http://models.acme.test/")
    assert backend.connected == [(PUBLIC, 80)]


# --- against a real server on loopback -----------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    async with FakeServer() as server:
        yield server


async def test_loopback_fake_refused_by_default_and_reachable_when_allowed(
    fake: FakeServer,
) -> None:
    async with make_guarded_client(EndpointGuard()) as client:
        result = await probe(client, fake.endpoint())
        assert not result.ok and "RefusedConnection" in result.detail
        with pytest.raises(RefusedConnection):
            await client.get(f"{fake.base_url}/v1/models")
    async with make_guarded_client(EndpointGuard(allow_private=True)) as client:
        assert (await probe(client, fake.endpoint())).ok


class ToLoopback(httpcore.AsyncNetworkBackend):
    """Connects wherever the guard says, but lands on the fake: a test-only detour."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.asked: list[str] = []
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.asked.append(host)
        return await self.inner.connect_tcp("127.0.0.1", self.port, timeout=timeout)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


async def test_public_name_end_to_end_through_the_guard(fake: FakeServer, dns: Any) -> None:
    backend = ToLoopback(fake.port)
    async with guarded(dns, backend) as client:
        endpoint = Endpoint("http://models.acme.test:8000/v1", fake.model.served_name)
        assert (await probe(client, endpoint)).ok
    assert backend.asked and set(backend.asked) == {PUBLIC}
    assert dns.calls == ["models.acme.test"]  # one pooled connection, checked once
