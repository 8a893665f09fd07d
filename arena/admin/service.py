"""The operator's decisions on owner endpoints: approve after verification, retire."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.errors import ArenaError
from arena.models import service
from arena.models.tables import STATUSES, ModelEndpoint


def _get(session: Session, model_id: int) -> ModelEndpoint:
    model = session.get(ModelEndpoint, model_id)
    if model is None:
        raise ArenaError(404, "model_not_found", f"no model with id {model_id}")
    return model


def _move(session: Session, model_id: int, status: str) -> ModelEndpoint:
    model = _get(session, model_id)
    try:
        service.set_status(model, status)
    except service.StatusConflict as exc:
        raise ArenaError(409, "invalid_status", str(exc)) from None
    session.flush()
    return model


def approve(session: Session, model_id: int) -> ModelEndpoint:
    """Only a verified model; one suspended for drift is verified again first."""
    return _move(session, model_id, "approved")


def retire(session: Session, model_id: int) -> ModelEndpoint:
    """Out of the pool for good; its votes and ratings stay."""
    return _move(session, model_id, "retired")


def list_models(session: Session, status: str | None) -> list[ModelEndpoint]:
    stmt = select(ModelEndpoint).order_by(ModelEndpoint.id)
    if status is not None:
        if status not in STATUSES:
            raise ArenaError(400, "invalid_status", f"status must be one of {', '.join(STATUSES)}")
        stmt = stmt.where(ModelEndpoint.status == status)
    return list(session.scalars(stmt))
