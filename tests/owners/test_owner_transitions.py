"""Status changes of owner endpoints: the allowed moves, and concurrent writers."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from arena.admin import service as admin
from arena.db import make_sessionmaker, session_scope
from arena.errors import ArenaError
from arena.models import service
from arena.models.tables import ModelEndpoint
from arena.owners.service import create_owner

PASS = [{"name": "models", "ok": True, "detail": "lists it", "ms": 1.0}]
FAIL = [{"name": "models", "ok": False, "detail": "not listed", "ms": 1.0}]


def new_model(session: Session, name: str = "M") -> ModelEndpoint:
    owner, _ = create_owner(session, "Acme", None)
    spec = service.OwnerModel(name, "Acme", "open", "https://m.test/v1", "acme/m")
    return service.add_owner_model(session, owner.id, spec, None)


def test_life_of_an_owner_model(session: Session) -> None:
    model = new_model(session)
    assert (model.status, model.source, model.healthy) == ("verifying", "owner", False)
    with pytest.raises(ArenaError) as err:
        admin.approve(session, model.id)
    assert err.value.status == 409
    assert service.record_verification(session, model.id, PASS) is model
    assert model.status == "verified" and model.verified_at is not None and model.healthy
    assert model.report == {"checks": PASS, "passed": True}
    assert service.record_verification(session, model.id, FAIL) is None  # already settled
    admin.approve(session, model.id)
    assert model.status == "approved" and model.approved_at is not None
    service.suspend_for_drift(model, "/v1/models does not list 'acme/m'")
    assert model.status == "suspended" and model.suspended_at is not None
    assert model.report["suspended_reason"].startswith("/v1/models")
    with pytest.raises(ArenaError):
        admin.approve(session, model.id)
    service.restart_verification(model, api_model="acme/m2")
    assert model.status == "verifying" and model.api_model == "acme/m2"
    assert model.report["checks"] == []
    service.record_verification(session, model.id, PASS)
    admin.approve(session, model.id)
    admin.retire(session, model.id)
    assert model.status == "retired" and model.retired_at is not None
    for move in (admin.retire, admin.approve):
        with pytest.raises(ArenaError):
            move(session, model.id)
    with pytest.raises(service.StatusConflict):
        service.restart_verification(model)


def test_rejection_then_retry(session: Session) -> None:
    model = new_model(session)
    service.record_verification(session, model.id, FAIL)
    assert model.status == "rejected" and not model.healthy
    assert model.health_detail == "models: not listed"
    service.restart_verification(model, base_url="https://m2.test/")
    assert model.base_url == "https://m2.test" and model.status == "verifying"
    with pytest.raises(service.ModelError):
        service.restart_verification(model, base_url="ftp://m2.test")


def test_names_are_unique_ignoring_case(session: Session) -> None:
    new_model(session, "Acme-7B")
    with pytest.raises(service.NameTaken):
        new_model(session, "acme-7b")


@pytest.mark.parametrize("checks", [PASS, FAIL])
def test_a_late_verification_never_undoes_a_retirement(
    engine: Engine, checks: list[dict[str, Any]]
) -> None:
    factory = make_sessionmaker(engine)
    with session_scope(factory) as s:
        model_id = new_model(s).id
    with factory() as verifier:
        assert verifier.get(ModelEndpoint, model_id).status == "verifying"  # type: ignore[union-attr]
        with session_scope(factory) as s:
            admin.retire(s, model_id)
        assert service.record_verification(verifier, model_id, checks) is None
        verifier.commit()
    with session_scope(factory) as s:
        assert s.get(ModelEndpoint, model_id).status == "retired"  # type: ignore[union-attr]


def test_retire_wins_over_a_verification_that_finished_meanwhile(engine: Engine) -> None:
    factory = make_sessionmaker(engine)
    with session_scope(factory) as s:
        model_id = new_model(s).id
    with factory() as admin_session:
        assert admin_session.get(ModelEndpoint, model_id).status == "verifying"  # type: ignore[union-attr]
        with session_scope(factory) as s:
            service.record_verification(s, model_id, FAIL)
        admin.retire(admin_session, model_id)
        admin_session.commit()
    with session_scope(factory) as s:
        model = s.get(ModelEndpoint, model_id)
        assert model is not None and model.status == "retired"
        assert model.report["checks"] == FAIL  # the report is kept
