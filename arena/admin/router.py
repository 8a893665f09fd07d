"""The admin API (Bearer ARENA_ADMIN_TOKEN; disabled when it is not set): the operator's
decisions on owner endpoints, made through `arena.models.lifecycle`, and the exclusion
audit ledger (`arena.admin.exclusions`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from arena.admin import exclusions
from arena.auth import AdminDep, CommittedSessionDep
from arena.errors import ArenaError
from arena.models import lifecycle, service
from arena.models.errors import ModelError, as_http_error
from arena.models.schemas import ModelView
from arena.models.tables import STATUSES, ModelEndpoint

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


def _decide(
    session: Session, model_id: int, decision: Callable[[ModelEndpoint], None]
) -> ModelView:
    try:
        model = service.get_model(session, model_id)
        decision(model)
    except ModelError as exc:
        raise as_http_error(exc) from None
    session.flush()
    return ModelView.of(model)


@router.get("/models", response_model=list[ModelView])
def list_models(
    _: AdminDep, session: CommittedSessionDep, status: str | None = None
) -> list[ModelView]:
    """Every model, or those in one status (e.g. `verified`: waiting for approval)."""
    if status is not None and status not in STATUSES:
        raise ArenaError(400, "invalid_status", f"status must be one of {', '.join(STATUSES)}")
    return [ModelView.of(m) for m in service.list_models(session, status)]


@router.post("/models/{model_id}/approve", response_model=ModelView)
def approve_model(model_id: int, _: AdminDep, session: CommittedSessionDep) -> ModelView:
    return _decide(session, model_id, lifecycle.approve)


@router.post("/models/{model_id}/retire", response_model=ModelView)
def retire_model(model_id: int, _: AdminDep, session: CommittedSessionDep) -> ModelView:
    return _decide(session, model_id, lifecycle.retire)


class Exclusion(BaseModel):
    id: int
    vote_id: int
    battle_id: str
    reason: str
    detail: str
    created_at: datetime


class ExclusionPage(BaseModel):
    exclusions: list[Exclusion]
    next_before: int | None


class ExclusionCounts(BaseModel):
    counts: dict[str, int]
    votes_excluded: int


@router.get("/exclusions", response_model=ExclusionPage)
def list_exclusions(
    _: AdminDep,
    session: CommittedSessionDep,
    reason: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[int | None, Query(ge=1, description="an id: older entries only")] = None,
) -> ExclusionPage:
    """The audit ledger, newest first; pass `next_before` back as `before` for older ones."""
    page = exclusions.ledger(session, reason=reason or None, limit=limit, before=before)
    return ExclusionPage.model_validate(page)


@router.get("/exclusions/counts", response_model=ExclusionCounts)
def exclusion_counts(_: AdminDep, session: CommittedSessionDep) -> ExclusionCounts:
    return ExclusionCounts.model_validate(exclusions.counts(session))
