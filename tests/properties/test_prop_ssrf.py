"""Properties of the SSRF guard: the address policy for every address and every spelling.

The oracle is DESIGN.md's rule, restated here without the guard's code: an address is
accepted iff it is global, not multicast and not a metadata service, and so is every IPv4
address it leads to (IPv4-mapped/compatible, NAT64, 6to4, Teredo). No connection leaves
the process: literal hosts are never resolved and the network backend is in memory.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from serving.guard import (
    EndpointGuard,
    RefusedConnection,
    UnsafeEndpoint,
    address_problem,
    check_url_shape,
    literal_address,
    make_guarded_client,
)
from tests.properties.support import props

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA = {
    ipaddress.ip_address(a) for a in ("169.254.169.254", "100.100.100.200", "fd00:ec2::254")
}
NAT64 = ipaddress.ip_network("64:ff9b::/96")
COMPAT = ipaddress.ip_network("::/96")


def leads_to(ip: IP) -> list[IP]:
    """The address itself and the IPv4 addresses a v6 address carries."""
    if isinstance(ip, ipaddress.IPv4Address):
        return [ip]
    out: list[IP] = [ip]
    out += [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    out += list(ip.teredo or ())
    if ip in NAT64 or (ip in COMPAT and int(ip) > 1):
        out.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return out


def allowed(ip: IP) -> bool:
    return all(a.is_global and not a.is_multicast and a not in METADATA for a in leads_to(ip))


def metadata(ip: IP) -> bool:
    return any(a in METADATA for a in leads_to(ip))


def mapped(v4: ipaddress.IPv4Address) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(0xFFFF << 32 | int(v4))


def compat(v4: ipaddress.IPv4Address) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(int(v4))


def nat64(v4: ipaddress.IPv4Address) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(int(NAT64.network_address) | int(v4))


def sixtofour(v4: ipaddress.IPv4Address, low: int) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(0x2002 << 112 | int(v4) << 80 | low)


v4s = st.ip_addresses(v=4)
# Every IPv6 form that embeds an IPv4 address, beside hypothesis' own IPv6 addresses.
v6s = st.one_of(
    st.ip_addresses(v=6),
    v4s.map(mapped),
    v4s.map(compat),
    v4s.map(nat64),
    st.builds(sixtofour, v4s, st.integers(0, 2**80 - 1)),
)
addresses = st.one_of(v4s, v6s)


async def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"{host} is a literal address and must not be resolved")


async def _check(url: str, **kw: Any) -> bool:
    try:
        await EndpointGuard(resolver=no_dns, **kw).check_url(url)
    except UnsafeEndpoint:
        return False
    return True


def accepts(url: str, **kw: Any) -> bool:
    return asyncio.run(_check(url, **kw))


@props(400)
@example(ipaddress.ip_address("224.0.0.1"))  # global to Python 3.11, still refused
@example(ipaddress.ip_address("::ffff:169.254.169.254"))
@example(ipaddress.ip_address("2002:a9fe:a9fe::1"))  # 6to4 of the metadata address
@given(addresses)
def test_an_address_is_allowed_iff_it_and_what_it_embeds_are_global(ip: IP) -> None:
    assert (address_problem(ip) is None) == allowed(ip)
    # Lifting the private check never lets a metadata address through.
    assert (address_problem(ip, allow_private=True) is not None) == metadata(ip)


def spellings(v4: ipaddress.IPv4Address) -> dict[str, str]:
    """What inet_aton and the resolvers read as ``v4``."""
    n = int(v4)
    o = v4.packed
    return {
        "dotted": str(v4),
        "decimal": str(n),
        "hex": hex(n),
        "HEX": "0X" + format(n, "X"),
        "octal": "0" + format(n, "o"),
        "octal-dotted": ".".join(f"0{x:o}" for x in o),
        "hex-dotted": ".".join(f"0x{x:02x}" for x in o),
        "two-part": f"{o[0]}.{n & 0xFFFFFF}",
        "three-part": f"{o[0]}.{o[1]}.{n & 0xFFFF}",
        "trailing-dot": f"{v4}.",
    }


@props(150)
@given(v4s, st.sampled_from(sorted(spellings(ipaddress.IPv4Address(0)))), st.integers(1, 65535))
def test_every_ipv4_spelling_reads_as_the_resolver_reads_it(
    v4: ipaddress.IPv4Address, style: str, port: int
) -> None:
    host = spellings(v4)[style]
    assert literal_address(host) == v4
    if style != "trailing-dot":
        assert socket.inet_aton(host) == v4.packed
    assert accepts(f"http://{host}:{port}/v1") == allowed(v4)


@props(150)
@given(v4s, st.sampled_from(["mapped", "mapped-hex", "compat", "nat64"]), st.booleans())
def test_ipv4_inside_bracketed_ipv6_is_judged_as_the_ipv4(
    v4: ipaddress.IPv4Address, form: str, https: bool
) -> None:
    ip = {"mapped": mapped, "mapped-hex": mapped, "compat": compat, "nat64": nat64}[form](v4)
    text = f"::ffff:{v4}" if form == "mapped" else str(ip)
    url = f"{'https' if https else 'http'}://[{text}]/v1"
    assert accepts(url) == allowed(ip) == allowed(v4)


@props(200)
@given(v6s, st.sampled_from(["", ":8000", ":443"]), st.booleans())
def test_bracketed_ipv6_urls_follow_the_policy(
    ip: ipaddress.IPv6Address, port: str, exploded: bool
) -> None:
    text = ip.exploded if exploded else ip.compressed
    assert accepts(f"http://[{text}]{port}/v1") == allowed(ip)
    assert accepts(f"http://[{text}]{port}/v1", allow_private=True) == (not metadata(ip))


schemes = st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9+.-]{0,9}\Z").filter(
    lambda s: s.lower() not in ("http", "https")
)


@props(150)
@example("HTTPS ", "8.8.8.8")
@example("file", "8.8.8.8")
@given(schemes, st.sampled_from(["8.8.8.8", "[2606:4700:4700::1111]", "models.example.com"]))
def test_schemes_other_than_http_and_https_are_refused(scheme: str, host: str) -> None:
    with pytest.raises(UnsafeEndpoint):
        check_url_shape(f"{scheme}://{host}/v1")
    assert not accepts(f"{scheme}://{host}/v1", allow_private=True)


# --- the connect-time check ----------------------------------------------------------------

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"


class Recording(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self.connected: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connected.append(host)
        return httpcore.AsyncMockStream([OK])

    async def sleep(self, seconds: float) -> None:
        pass


async def _connect(url: str) -> tuple[bool, list[str]]:
    backend = Recording()
    async with make_guarded_client(EndpointGuard(resolver=no_dns), backend=backend) as client:
        try:
            await client.get(url)
        except RefusedConnection:
            return False, backend.connected
    return True, backend.connected


@props(50)
@given(addresses)
def test_the_transport_connects_to_exactly_the_allowed_address(ip: IP) -> None:
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    ok, connected = asyncio.run(_connect(f"http://{host}:8000/v1/models"))
    assert ok == allowed(ip)
    assert connected == ([str(ip)] if ok else [])
