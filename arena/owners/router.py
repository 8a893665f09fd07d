"""Owner accounts: `POST /api/v1/owners` hands out a bearer token, once; with it,
`GET /api/v1/owners/me/models` lists that owner's models and nobody else's."""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Depends, Request, Response

from arena.auth import CommittedSessionDep, OwnerDep
from arena.clients import canonical_address, limit_address
from arena.crypto import keyed_hash
from arena.deps import SettingsDep
from arena.owners import service, views
from arena.owners.schemas import OwnerCreate, OwnerCreated, OwnerModel
from arena.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["owners"])


def _trusted(settings: Settings, address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in settings.trusted_networks)


async def _limit_signups(request: Request, settings: SettingsDep) -> None:
    """Counted per client address (stored hashed); trusted networks are exempt."""
    address = request.client.host if request.client else "unknown"
    if not _trusted(settings, address):
        ip_hash = keyed_hash(settings.secret_key, "ip", limit_address(canonical_address(address)))
        await request.app.state.limits.hit("owners", f"ip:{ip_hash}")


@router.post(
    "/owners",
    status_code=201,
    response_model=OwnerCreated,
    dependencies=[Depends(_limit_signups)],
    responses={429: {"description": "too many sign-ups from this address"}},
)
def create_owner(
    body: OwnerCreate, session: CommittedSessionDep, response: Response
) -> OwnerCreated:
    owner, token = service.create_owner(session, body.name, body.email)
    response.headers["Cache-Control"] = "no-store"
    return OwnerCreated(owner_id=owner.id, token=token)


@router.get(
    "/owners/me/models",
    response_model=list[OwnerModel],
    responses={
        401: {"description": "no or an unknown token"},
        403: {"description": "not an owner token"},
    },
)
def my_models(
    caller: OwnerDep, session: CommittedSessionDep, response: Response
) -> list[OwnerModel]:
    """The caller's models, newest first, each with its report and, once approved, its numbers."""
    assert caller.owner_id is not None
    response.headers["Cache-Control"] = "no-store"
    return [OwnerModel.model_validate(m) for m in views.owner_models(session, caller.owner_id)]
