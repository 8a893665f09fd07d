"""Model owners: accounts identified by a bearer token that is shown once."""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from arena.crypto import token_hash
from arena.owners.tables import Owner

TOKEN_PREFIX = "arena_owner_"  # noqa: S105 (a prefix, not a secret)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_owner(session: Session, name: str, email: str | None) -> tuple[Owner, str]:
    """A new owner and its token; only the token's SHA-256 is stored."""
    token = new_token()
    owner = Owner(name=name, email=email, token_hash=token_hash(token))
    session.add(owner)
    session.flush()
    return owner, token
