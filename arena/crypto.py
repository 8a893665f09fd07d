"""API keys of owner endpoints, encrypted at rest with a key derived from ARENA_SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr


def _fernet(secret_key: SecretStr) -> Fernet:
    digest = hashlib.sha256(b"arena/api-key/v1:" + secret_key.get_secret_value().encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal_api_key(secret_key: SecretStr, api_key: str) -> str:
    return "enc:" + _fernet(secret_key).encrypt(api_key.encode()).decode()


def api_key_from_ref(secret_key: SecretStr, ref: str | None) -> str | None:
    """The key behind a stored reference (`env:VAR` or `enc:TOKEN`); None when there is none."""
    if not ref:
        return None
    kind, _, value = ref.partition(":")
    if kind == "env":
        return os.environ.get(value) or None
    if kind == "enc":
        try:
            return _fernet(secret_key).decrypt(value.encode()).decode()
        except InvalidToken:
            return None
    return None


def keyed_hash(secret_key: SecretStr, purpose: str, value: str) -> str:
    """HMAC-SHA256 so stored client ids and addresses cannot be reversed by brute force."""
    key = secret_key.get_secret_value().encode()
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
