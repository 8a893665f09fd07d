"""Model endpoints: owners register and watch them; anyone lists the approved ones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from sqlalchemy.orm import Session

from arena.auth import Caller, CallerDep, CommittedSessionDep, OwnerDep
from arena.crypto import seal_api_key
from arena.deps import SettingsDep
from arena.errors import ArenaError
from arena.models import service
from arena.models.errors import ModelError, as_http_error
from arena.models.probing import verify_model
from arena.models.schemas import ModelAccepted, ModelCreate, ModelUpdate, ModelView, PublicModel
from arena.models.tables import ModelEndpoint
from arena.settings import Settings
from serving.guard import GuardedClient, UnsafeEndpoint

router = APIRouter(prefix="/api/v1", tags=["models"])


async def _check_address(request: Request, base_url: str) -> None:
    """Refuse a non-public endpoint at once; verification and every connection check again."""
    client: GuardedClient = request.app.state.guarded_http
    try:
        await client.guard.check_url(base_url)
    except UnsafeEndpoint as exc:
        raise ArenaError(400, "endpoint_not_allowed", f"base_url refused: {exc}") from None


async def _limit(request: Request, caller: Caller) -> None:
    """Each verification sends requests to a URL of the owner's choosing: keep them few."""
    if caller.owner_id is not None:
        await request.app.state.limits.hit("owners", f"owner:{caller.owner_id}")


async def _checked_create(body: ModelCreate, caller: OwnerDep, request: Request) -> ModelCreate:
    await _limit(request, caller)
    await _check_address(request, body.base_url)
    return body


async def _checked_update(
    caller: CallerDep, request: Request, body: ModelUpdate | None = None
) -> ModelUpdate:
    await _limit(request, caller)
    body = body or ModelUpdate()
    if body.base_url is not None:
        await _check_address(request, body.base_url)
    return body


async def _start_verification(request: Request, model_id: int) -> None:
    """Run after the response, so after the commit: the task always finds the row."""
    state = request.app.state
    task = verify_model(state.sessionmaker, state.guarded_http, state.settings, model_id)
    state.tasks.spawn(task, f"verify-model-{model_id}")


def _sealed(settings: Settings, key: str | None) -> str | None:
    return seal_api_key(settings.secret_key, key) if key else None


def _visible(session: Session, model_id: int, owner_id: int | None, admin: bool) -> ModelEndpoint:
    try:
        model = service.get_model(session, model_id)
    except ModelError as exc:
        raise as_http_error(exc) from None
    if not admin and model.owner_id != owner_id:
        raise ArenaError(403, "not_your_model", "this model belongs to another owner")
    return model


@router.post("/models", status_code=202, response_model=ModelAccepted)
def register_model(
    caller: OwnerDep,
    body: Annotated[ModelCreate, Depends(_checked_create)],
    session: CommittedSessionDep,
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
) -> ModelAccepted:
    assert caller.owner_id is not None
    spec = service.OwnerModel(
        name=body.name,
        organization=body.organization,
        license=body.license,
        base_url=body.base_url,
        api_model=body.api_model,
        aliases=tuple(body.aliases),
        parameters=body.parameters,
    )
    key = body.api_key.get_secret_value() if body.api_key else None
    try:
        model = service.add_owner_model(session, caller.owner_id, spec, _sealed(settings, key))
    except ModelError as exc:
        raise as_http_error(exc) from None
    background.add_task(_start_verification, request, model.id)
    return ModelAccepted(id=model.id, status=model.status)


@router.post("/models/{model_id}/verify", status_code=202, response_model=ModelAccepted)
def reverify_model(
    model_id: int,
    caller: CallerDep,
    body: Annotated[ModelUpdate, Depends(_checked_update)],
    session: CommittedSessionDep,
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
) -> ModelAccepted:
    """Verify again (after a rejection or a suspension), with corrections if given."""
    model = _visible(session, model_id, caller.owner_id, caller.admin)
    key = body.api_key.get_secret_value() if body.api_key else None
    try:
        service.restart_verification(
            model,
            base_url=body.base_url,
            api_model=body.api_model,
            api_key_ref=_sealed(settings, key),
            aliases=body.aliases,
        )
    except ModelError as exc:
        raise as_http_error(exc) from None
    session.flush()
    background.add_task(_start_verification, request, model.id)
    return ModelAccepted(id=model.id, status=model.status)


@router.get("/models/{model_id}", response_model=ModelView)
def get_model(model_id: int, caller: CallerDep, session: CommittedSessionDep) -> ModelView:
    return ModelView.of(_visible(session, model_id, caller.owner_id, caller.admin))


@router.get("/models", response_model=list[PublicModel])
def list_models(session: CommittedSessionDep) -> list[PublicModel]:
    return [
        PublicModel(name=m.name, organization=m.organization, license=m.license, status=m.status)
        for m in service.list_approved(session)
    ]
