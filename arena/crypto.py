"""API keys of owner endpoints, encrypted at rest with a key derived from ARENA_SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from arena.errors import ArenaError

log = logging.getLogger("arena.crypto")

UNREADABLE_SEALED = "API key cannot be decrypted"


class UnreadableKey(ArenaError):
    """A stored key reference that cannot be turned into the key (a sealed key under another
    ARENA_SECRET_KEY, an unset variable). Requests to that endpoint are never sent: sending
    them without auth would fail open. In a battle this is the 503 of an unavailable model;
    ``detail`` is neutral enough for the owner's health line."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            503,
            "model_unavailable",
            "a model in this battle is unavailable right now; try again later or start a new one",
        )
        self.detail = detail


def _fernet(secret_key: SecretStr) -> Fernet:
    digest = hashlib.sha256(b"arena/api-key/v1:" + secret_key.get_secret_value().encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal_api_key(secret_key: SecretStr, api_key: str) -> str:
    return "enc:" + _fernet(secret_key).encrypt(api_key.encode()).decode()


def api_key_from_ref(secret_key: SecretStr, ref: str | None) -> str | None:
    """The key behind a stored reference (`env:VAR` or `enc:TOKEN`); None when the endpoint
    has no key. Raises UnreadableKey when it has one that cannot be read."""
    if not ref:
        return None
    kind, _, value = ref.partition(":")
    if kind == "env":
        key = os.environ.get(value)
        if not key:
            log.error("API key variable %s is not set; its endpoint gets no requests", value)
            raise UnreadableKey(f"API key variable {value} is not set")
        return key
    if kind == "enc":
        try:
            return _fernet(secret_key).decrypt(value.encode()).decode()
        except InvalidToken:
            log.error(
                "a sealed API key cannot be opened with this ARENA_SECRET_KEY (changed or "
                "rotated?); its endpoint gets no requests until the owner sends the key again"
            )
            raise UnreadableKey(UNREADABLE_SEALED) from None
    log.error("unknown API key reference kind %r", kind)
    raise UnreadableKey("API key reference is not readable")


def keyed_hash(secret_key: SecretStr, purpose: str, value: str) -> str:
    """HMAC-SHA256 so stored client ids and addresses cannot be reversed by brute force."""
    key = secret_key.get_secret_value().encode()
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
