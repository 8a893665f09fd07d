"""Bearer tokens: owner tokens (only their SHA-256 is stored) and the operator's admin token."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.crypto import token_hash
from arena.deps import SettingsDep, get_session
from arena.errors import ArenaError
from arena.owners.tables import Owner
from arena.settings import Settings

# Committed when the endpoint function returns, before the response leaves: a client that
# got its 201/202 can rely on the row, and background work started after it finds it.
CommittedSessionDep = Annotated[Session, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="an owner token or the admin token")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Caller:
    """Who sent a request: an owner (by id) or the operator (admin)."""

    owner_id: int | None = None
    admin: bool = False


def is_admin_token(settings: Settings, token: str) -> bool:
    expected = settings.admin_token
    if expected is None or not expected.get_secret_value():
        return False
    return hmac.compare_digest(token.encode(), expected.get_secret_value().encode())


def owner_for_token(session: Session, token: str) -> Owner | None:
    return session.scalar(select(Owner).where(Owner.token_hash == token_hash(token)))


def _unauthenticated(message: str, code: str = "missing_token") -> ArenaError:
    return ArenaError(401, code, message, headers=_CHALLENGE)


def optional_caller(
    credentials: BearerDep, session: CommittedSessionDep, settings: SettingsDep
) -> Caller | None:
    if credentials is None:
        return None
    token = credentials.credentials
    if is_admin_token(settings, token):
        return Caller(admin=True)
    owner = owner_for_token(session, token)
    if owner is None:
        raise _unauthenticated("the bearer token is not valid", "invalid_token")
    return Caller(owner_id=owner.id)


OptionalCallerDep = Annotated[Caller | None, Depends(optional_caller)]


def require_caller(caller: OptionalCallerDep) -> Caller:
    """An owner or the admin."""
    if caller is None:
        raise _unauthenticated("send an owner token: Authorization: Bearer <token>")
    return caller


def require_owner(caller: OptionalCallerDep) -> Caller:
    if caller is None:
        raise _unauthenticated("send an owner token: Authorization: Bearer <token>")
    if caller.owner_id is None:
        raise ArenaError(403, "owner_token_required", "this call needs an owner token")
    return caller


def require_admin(
    credentials: BearerDep, session: CommittedSessionDep, settings: SettingsDep
) -> Caller:
    if settings.admin_token is None or not settings.admin_token.get_secret_value():
        raise ArenaError(
            403,
            "admin_disabled",
            "the admin API is disabled: the operator has not set ARENA_ADMIN_TOKEN",
        )
    if credentials is None:
        raise _unauthenticated("send the admin token: Authorization: Bearer <token>")
    if is_admin_token(settings, credentials.credentials):
        return Caller(admin=True)
    if owner_for_token(session, credentials.credentials) is not None:
        raise ArenaError(403, "admin_required", "this call needs the admin token")
    raise _unauthenticated("the bearer token is not valid", "invalid_token")


CallerDep = Annotated[Caller, Depends(require_caller)]
OwnerDep = Annotated[Caller, Depends(require_owner)]
AdminDep = Annotated[Caller, Depends(require_admin)]
