"""Who is asking: a signed, HttpOnly client cookie plus keyed hashes of the address.

The cookie is the client's identity for votes and limits; the address (and its /24 or /48
network) is counted too, so clearing cookies does not reset a limit. An IPv6 address counts
as its /64, the block one host or one subscriber usually holds whole, so rotating through it
does not reset a limit either. Raw addresses are never
stored, only HMACs keyed with ARENA_SECRET_KEY. Behind a reverse proxy the address is the one
the proxy saw, taken from X-Forwarded-For only when the proxy's own address is in
ARENA_FORWARDED_ALLOW_IPS (uvicorn rewrites the ASGI client; see arena/server.py).
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeSerializer

from arena.crypto import keyed_hash
from arena.settings import Settings

COOKIE = "arena_client"


@dataclass(frozen=True)
class ClientIdentity:
    client_hash: str
    ip_hash: str
    network_hash: str
    trusted: bool  # in ARENA_TRUSTED_NETWORKS: exempt from per-address counting


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret_key.get_secret_value(), salt="arena-client")


def canonical_address(address: str) -> str:
    """One spelling per address (``2001:DB8::1`` and ``2001:db8:0::1`` hash alike); a value
    that is not an IP address is kept as it is."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def _network(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def limit_address(address: str) -> str:
    """What one "address" is for limits: the IPv4 address, or the IPv6 /64 around it."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return str(ip)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


def client_id(request: Request, settings: Settings) -> str | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        value = _serializer(settings).loads(raw)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def ensure_client(request: Request, response: Response, settings: Settings) -> str:
    """The client's id, issuing a new signed cookie when it has none (or a forged one)."""
    existing = client_id(request, settings)
    if existing:
        return existing
    new = secrets.token_urlsafe(18)
    response.set_cookie(
        COOKIE,
        _serializer(settings).dumps(new),
        max_age=400 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    request.state.new_client_id = new
    return new


def identify(request: Request, settings: Settings, cid: str) -> ClientIdentity:
    # The peer uvicorn reports: the socket's address, or, when ARENA_FORWARDED_ALLOW_IPS
    # names the peer, the X-Forwarded-For entry uvicorn's proxy middleware picked.
    address = canonical_address(request.client.host) if request.client else "unknown"
    trusted = False
    try:
        ip = ipaddress.ip_address(address)
        trusted = any(ip in net for net in settings.trusted_networks)
    except ValueError:
        pass
    key = settings.secret_key
    return ClientIdentity(
        client_hash=keyed_hash(key, "client", cid),
        ip_hash=keyed_hash(key, "ip", limit_address(address)),
        network_hash=keyed_hash(key, "net", _network(address)),
        trusted=trusted,
    )
