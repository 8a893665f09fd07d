"""The admin API (Bearer ARENA_ADMIN_TOKEN; disabled when it is not set)."""

from __future__ import annotations

from fastapi import APIRouter

from arena.admin import service
from arena.auth import AdminDep, CommittedSessionDep
from arena.models.schemas import ModelView

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.get("/models", response_model=list[ModelView])
def list_models(
    _: AdminDep, session: CommittedSessionDep, status: str | None = None
) -> list[ModelView]:
    """Every model, or those in one status (e.g. `verified`: waiting for approval)."""
    return [ModelView.of(m) for m in service.list_models(session, status)]


@router.post("/models/{model_id}/approve", response_model=ModelView)
def approve_model(model_id: int, _: AdminDep, session: CommittedSessionDep) -> ModelView:
    return ModelView.of(service.approve(session, model_id))


@router.post("/models/{model_id}/retire", response_model=ModelView)
def retire_model(model_id: int, _: AdminDep, session: CommittedSessionDep) -> ModelView:
    return ModelView.of(service.retire(session, model_id))
