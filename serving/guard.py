"""SSRF guard for endpoints registered by model owners.

An owner's base URL must be http(s) without credentials, and every address its host
resolves to must be global (``ipaddress`` ``is_global``): no loopback, private, link-local,
unique-local, CGNAT or cloud metadata address, however it is spelled (``0x7f000001``,
``2130706433``, ``0177.0.0.1``, ``[::ffff:127.0.0.1]``).

Checking the URL once at registration is not enough: DNS can answer differently a second
later (rebinding). :class:`GuardedTransport` therefore resolves and checks again when it
opens each connection, and connects to exactly the address it checked; the request keeps its
host name for the ``Host`` header and TLS SNI. Redirects are never followed by
:func:`make_guarded_client`, and a redirect followed anyway would be checked like any other
connection. ``allow_private=True`` (``ARENA_ALLOW_PRIVATE_ENDPOINTS``) lifts the
address check, except for cloud metadata services, which are never model servers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx
from httpcore import AnyIOBackend, AsyncNetworkBackend, AsyncNetworkStream

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Instance metadata services (AWS/GCP/Azure/OpenStack, Alibaba, AWS over IPv6).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "100.100.100.200", "fd00:ec2::254")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_LEGACY_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")
_RESOLVE_TIMEOUT = 10.0


class UnsafeEndpoint(ValueError):
    """A URL or address the guard refuses; the message says why and may be shown to owners."""


class RefusedConnection(httpx.ConnectError):
    """Raised by :class:`GuardedTransport` instead of connecting to a refused address."""


def parse_legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address behind the inet_aton spellings (``0x7f.1``, ``2130706433``, ``0177.0.0.1``).

    Resolvers accept these, so the guard must read them the same way rather than treat them
    as names.
    """
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = [_legacy_part(p) for p in parts]
    if any(v is None for v in values):
        return None
    *head, last = [v for v in values if v is not None]
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(parts)):
        return None
    number = 0
    for v in head:
        number = number << 8 | v
    return ipaddress.IPv4Address(number << 8 * (5 - len(parts)) | last)


def _legacy_part(part: str) -> int | None:
    if not _LEGACY_PART.fullmatch(part):
        return None
    if part[:2].lower() == "0x":
        return int(part[2:], 16) if len(part) > 2 else None
    return int(part, 8 if part.startswith("0") else 10)


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally (any spelling), or None for a DNS name."""
    bare = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        return parse_legacy_ipv4(host.rstrip("."))


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address leads to (mapped, compatible, NAT64, 6to4, Teredo)."""
    if ip.version == 4:
        return []
    assert isinstance(ip, ipaddress.IPv6Address)
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _kind(ip: IPAddress) -> str:
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip in ipaddress.ip_network("100.64.0.0/10"):
        return "shared (CGNAT)"
    if ip.is_private:
        return "private"
    return "reserved"


def address_problem(ip: IPAddress, *, allow_private: bool = False) -> str | None:
    """What kind of address ``ip`` is when connecting to it is refused; None if allowed."""
    for candidate in (ip, *_embedded_ipv4(ip)):
        if candidate in METADATA_ADDRESSES:
            return "cloud metadata"
    if allow_private:
        return None
    for candidate in (ip, *_embedded_ipv4(ip)):
        # Python 3.11 counts multicast as global; it is never a model server either.
        if not candidate.is_global or candidate.is_multicast:
            return _kind(candidate)
    return None


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int


def check_url_shape(url: str) -> Target:
    """The scheme, host and port of an owner's URL; refuses anything but plain http(s)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeEndpoint(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeEndpoint("the URL must start with http:// or https://")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeEndpoint("the URL must not carry credentials; send an API key instead")
    host = parts.hostname
    if not host:
        raise UnsafeEndpoint("the URL has no host")
    return Target(scheme, host, port or (443 if scheme == "https" else 80))


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (IPv4 and IPv6)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class EndpointGuard:
    """The policy: which addresses owner endpoints may be reached at."""

    def __init__(self, *, allow_private: bool = False, resolver: Resolver | None = None) -> None:
        self.allow_private = allow_private
        self.resolver = resolver

    async def resolve(self, host: str, port: int, seconds: float | None = None) -> list[IPAddress]:
        """The checked addresses of ``host``; raises :class:`UnsafeEndpoint` if any is refused."""
        literal = literal_address(host)
        if literal is not None:
            addresses = [literal]
        else:
            resolver = self.resolver or system_resolve
            try:
                async with asyncio.timeout(seconds or _RESOLVE_TIMEOUT):
                    raw = await resolver(host, port)
            except (OSError, TimeoutError) as exc:
                raise UnsafeEndpoint(f"cannot resolve {host}: {exc or 'timed out'}") from None
            addresses = _unique(ipaddress.ip_address(a.split("%", 1)[0]) for a in raw)
            if not addresses:
                raise UnsafeEndpoint(f"{host} resolves to no address")
        for ip in addresses:
            problem = address_problem(ip, allow_private=self.allow_private)
            if problem is None:
                continue
            # For names, the address stays unsaid: owners need not learn internal DNS.
            if literal is not None:
                raise UnsafeEndpoint(f"{ip} is not a public address ({problem})")
            raise UnsafeEndpoint(f"{host} resolves to a non-public address ({problem})")
        return addresses

    async def check_url(self, url: str) -> list[IPAddress]:
        target = check_url_shape(url)
        return await self.resolve(target.host, target.port)


def _unique(addresses: Iterable[IPAddress]) -> list[IPAddress]:
    return list(dict.fromkeys(addresses))


class GuardedBackend(AsyncNetworkBackend):
    """An httpcore network backend that resolves, checks, then connects to the checked IP."""

    def __init__(self, guard: EndpointGuard, backend: AsyncNetworkBackend | None = None) -> None:
        self.guard = guard
        self._backend = backend or AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        try:
            addresses = await self.guard.resolve(host, port, timeout)
        except UnsafeEndpoint as exc:
            raise RefusedConnection(f"refused to connect: {exc}") from None
        error: Exception | None = None
        for ip in addresses:
            try:
                return await self._backend.connect_tcp(
                    str(ip),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        raise RefusedConnection("refused to connect: unix sockets are not endpoints")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` whose every new connection goes through the guard."""

    def __init__(
        self,
        guard: EndpointGuard,
        *,
        limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),
        backend: AsyncNetworkBackend | None = None,
    ) -> None:
        # No proxy and no environment: a proxy would make the connection, not us.
        super().__init__(trust_env=False, limits=limits)
        self.guard = guard
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(guard, backend),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ("http", "https"):
            raise RefusedConnection(
                f"refused to connect: scheme {request.url.scheme!r}", request=request
            )
        if request.url.userinfo:
            raise RefusedConnection("refused to connect: URL carries credentials", request=request)
        return await super().handle_async_request(request)


class GuardedClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` for owner endpoints; ``guard`` is the policy it enforces."""

    guard: EndpointGuard


def make_guarded_client(
    guard: EndpointGuard,
    *,
    connect: float = 5.0,
    read: float = 60.0,
    write: float = 10.0,
    pool: float = 10.0,
    max_connections: int = 200,
    max_keepalive_connections: int = 50,
    backend: AsyncNetworkBackend | None = None,
) -> GuardedClient:
    """The shared client for owner endpoints: same timeouts as the operator client, guarded."""
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_keepalive_connections
    )
    client = GuardedClient(
        timeout=httpx.Timeout(connect=connect, read=read, write=write, pool=pool),
        follow_redirects=False,
        trust_env=False,
        transport=GuardedTransport(guard, limits=limits, backend=backend),
        headers={"User-Agent": "arena"},
    )
    client.guard = guard
    return client
