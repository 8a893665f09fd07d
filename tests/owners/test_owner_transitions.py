"""Status changes of owner endpoints: the allowed moves, and concurrent writers."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from arena.db import make_sessionmaker, session_scope
from arena.models import lifecycle, service
from arena.models.errors import ModelError, NameTaken, StatusConflict, as_http_error
from arena.models.tables import STATUSES, ModelEndpoint
from arena.owners.service import create_owner

PASS = [{"name": "models", "ok": True, "detail": "lists it", "ms": 1.0}]
FAIL = [{"name": "models", "ok": False, "detail": "not listed", "ms": 1.0}]


def new_model(session: Session, name: str = "M") -> ModelEndpoint:
    owner, _ = create_owner(session, "Acme", None)
    spec = service.OwnerModel(name, "Acme", "open", "https://m.test/v1", "acme/m")
    return service.add_owner_model(session, owner.id, spec, None)


def approve(session: Session, model_id: int) -> None:
    lifecycle.approve(service.get_model(session, model_id))


def retire(session: Session, model_id: int) -> None:
    lifecycle.retire(service.get_model(session, model_id))


def test_life_of_an_owner_model(session: Session) -> None:
    model = new_model(session)
    assert (model.status, model.source, model.healthy) == ("verifying", "owner", False)
    with pytest.raises(StatusConflict) as err:
        approve(session, model.id)
    assert as_http_error(err.value).status == 409
    assert lifecycle.record_verification(session, model.id, PASS) is model
    assert model.status == "verified" and model.verified_at is not None and model.healthy
    assert model.report == {"checks": PASS, "passed": True}
    assert lifecycle.record_verification(session, model.id, FAIL) is None  # already settled
    approve(session, model.id)
    assert model.status == "approved" and model.approved_at is not None
    lifecycle.suspend_for_drift(model, "/v1/models does not list 'acme/m'")
    assert model.status == "suspended" and model.suspended_at is not None
    assert model.report["suspended_reason"].startswith("/v1/models")
    with pytest.raises(StatusConflict):
        approve(session, model.id)
    service.restart_verification(model, api_model="acme/m2")
    assert model.status == "verifying" and model.api_model == "acme/m2"
    assert model.report["checks"] == []
    lifecycle.record_verification(session, model.id, PASS)
    approve(session, model.id)
    retire(session, model.id)
    assert model.status == "retired" and model.retired_at is not None
    for move in (retire, approve):
        with pytest.raises(StatusConflict):
            move(session, model.id)
    with pytest.raises(StatusConflict):
        service.restart_verification(model)


def test_rejection_then_retry(session: Session) -> None:
    model = new_model(session)
    lifecycle.record_verification(session, model.id, FAIL)
    assert model.status == "rejected" and not model.healthy
    assert model.health_detail == "models: not listed"
    service.restart_verification(model, base_url="https://m2.test/")
    assert model.base_url == "https://m2.test" and model.status == "verifying"
    with pytest.raises(ModelError):
        service.restart_verification(model, base_url="ftp://m2.test")


def test_names_are_unique_ignoring_case(session: Session) -> None:
    new_model(session, "Acme-7B")
    with pytest.raises(NameTaken):
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
            retire(s, model_id)
        assert lifecycle.record_verification(verifier, model_id, checks) is None
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
            lifecycle.record_verification(s, model_id, FAIL)
        retire(admin_session, model_id)
        admin_session.commit()
    with session_scope(factory) as s:
        model = s.get(ModelEndpoint, model_id)
        assert model is not None and model.status == "retired"
        assert model.report["checks"] == FAIL  # the report is kept


def force_status(session: Session, model: ModelEndpoint, status: str) -> None:
    session.execute(update(ModelEndpoint).where(ModelEndpoint.id == model.id).values(status=status))
    session.refresh(model)


def test_the_table_covers_every_status() -> None:
    targets = {rule.target for rule in lifecycle.MOVES.values()}
    sources = set().union(*(rule.sources for rule in lifecycle.MOVES.values()))
    assert targets | sources == set(STATUSES)
    assert lifecycle.MOVES["retire"].sources == set(STATUSES) - {"retired"}
    assert not any("retired" in rule.sources for rule in lifecycle.MOVES.values())


@pytest.mark.parametrize("event", sorted(lifecycle.MOVES))
def test_each_move_only_from_its_sources(session: Session, event: lifecycle.Event) -> None:
    model = new_model(session)
    rule = lifecycle.MOVES[event]
    for status in STATUSES:
        force_status(session, model, status)
        if status in rule.sources:
            lifecycle.move(model, event, note=status)
            session.flush()
            session.refresh(model)
            assert model.status == rule.target and model.report["note"] == status
        else:
            with pytest.raises(StatusConflict, match=f"is {status}; it cannot become"):
                lifecycle.move(model, event)
            session.refresh(model)
            assert model.status == status


def operator_model(session: Session) -> ModelEndpoint:
    spec = service.OperatorModel("Op", "http://10.0.0.5:8000", "op/1")
    return service.add_operator_model(session, spec)


def test_operator_models_start_approved_and_come_back_from_the_fleet_file(
    session: Session,
) -> None:
    model = operator_model(session)
    assert model.status == "approved" and model.approved_at == model.verified_at is not None
    spec = service.OperatorModel("Op", "http://10.0.0.6:8000", "op/2")
    for status, after in [
        ("suspended", "approved"),
        ("verified", "approved"),
        ("approved", "approved"),
        ("rejected", "rejected"),
        ("retired", "retired"),
    ]:
        force_status(session, model, status)
        assert service.upsert_operator_model(session, spec) is model
        assert (model.status, model.api_model) == (after, "op/2")


def test_operator_models_are_not_reverified(session: Session) -> None:
    model = operator_model(session)
    # Refused for what the model is, before any field is looked at.
    with pytest.raises(StatusConflict, match="managed with the CLI"):
        service.restart_verification(model, base_url="ftp://bad")
    assert model.status == "approved"
