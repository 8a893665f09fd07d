"""The statuses of a model endpoint and every move between them.

An operator's endpoint (CLI, fleet file) is trusted and starts `approved`; an owner's starts
`verifying`, is verified automatically and approved by the admin::

    verifying --passed--> verified --approve--> approved --suspend--> suspended
    verifying --failed--> rejected
    verifying, verified, rejected, suspended --reverify--> verifying    (owner endpoints)
    verifying, verified, suspended --reregister--> approved             (the fleet file again)
    anything but retired --retire--> retired

Every move is a compare-and-set on the status the caller saw, so two writers (the admin
retiring, a verification finishing) cannot both win, on SQLite as on PostgreSQL. Nothing is
deleted: a retired endpoint keeps its votes and ratings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.attributes import set_committed_value

from arena.db import utcnow
from arena.models.errors import StatusConflict
from arena.models.tables import STATUSES, ModelEndpoint

Event = Literal["passed", "failed", "approve", "suspend", "reverify", "reregister", "retire"]


@dataclass(frozen=True)
class Move:
    sources: frozenset[str]
    target: str


def _rule(target: str, *sources: str) -> Move:
    return Move(frozenset(sources), target)


MOVES: Mapping[Event, Move] = {
    "passed": _rule("verified", "verifying"),
    "failed": _rule("rejected", "verifying"),
    "approve": _rule("approved", "verified"),
    "suspend": _rule("suspended", "approved"),
    "reverify": _rule("verifying", "verifying", "verified", "rejected", "suspended"),
    "reregister": _rule("approved", "verifying", "verified", "suspended"),
    "retire": _rule("retired", *(s for s in STATUSES if s != "retired")),
}


def initial_fields(source: str, now: datetime) -> dict[str, Any]:
    """Status and stamps of a new endpoint: an operator's is verified and approved at once."""
    if source == "operator":
        return {"status": "approved", "verified_at": now, "approved_at": now}
    return {"status": "verifying"}


def move(model: ModelEndpoint, event: Event, **report: Any) -> None:
    """Apply ``event`` (stamping ``<status>_at``, merging ``report``), or raise StatusConflict.

    The UPDATE names the status the caller saw; when another writer changed it meanwhile,
    the row is read again and the move decided again on what it is now.
    """
    session = object_session(model)
    if session is None:
        raise RuntimeError("a status move needs a model attached to a session")
    rule = MOVES[event]
    values: dict[str, Any] = {"status": rule.target}
    stamp = f"{rule.target}_at"
    if hasattr(ModelEndpoint, stamp):
        values[stamp] = utcnow()
    for _ in range(3):
        seen = model.status
        if seen not in rule.sources:
            raise StatusConflict(f"model {model.name!r} is {seen}; it cannot become {rule.target}")
        stmt = (
            update(ModelEndpoint)
            .where(ModelEndpoint.id == model.id, ModelEndpoint.status == seen)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if cast("CursorResult[Any]", session.execute(stmt)).rowcount == 1:
            for key, value in values.items():
                set_committed_value(model, key, value)
            break
        session.refresh(model)
    else:
        raise StatusConflict(f"model {model.name!r} keeps changing; try again")
    if report:
        model.report = {**(model.report or {}), **report}


def approve(model: ModelEndpoint) -> None:
    """Only a verified model; one suspended for drift is verified again first."""
    move(model, "approve")


def retire(model: ModelEndpoint) -> None:
    """Out of the pool for good, from any status."""
    move(model, "retire")


def check_owner_managed(model: ModelEndpoint) -> None:
    if model.source != "owner":
        raise StatusConflict("operator models are managed with the CLI")


def reverify(model: ModelEndpoint) -> None:
    """Back to `verifying` with an empty report; out of the pool until it passes."""
    check_owner_managed(model)
    move(model, "reverify", checks=[], passed=None, identity=None, fingerprint=None, canaries=None)
    model.healthy = False


def reregister(model: ModelEndpoint) -> None:
    """The fleet file names the endpoint again: approved, unless rejected or retired."""
    if model.status in MOVES["reregister"].sources:
        move(model, "reregister")


def record_verification(
    session: Session,
    model_id: int,
    checks: list[dict[str, Any]],
    findings: Mapping[str, Any] | None = None,
) -> ModelEndpoint | None:
    """Store a finished verification (``findings``: more report sections, e.g. what the
    identity probes answered); ignored when the model left `verifying` meanwhile."""
    model = session.get(ModelEndpoint, model_id)
    if model is None or model.status != "verifying":
        return None
    passed = bool(checks) and all(c["ok"] for c in checks)
    try:
        move(
            model,
            "passed" if passed else "failed",
            checks=checks,
            passed=passed,
            **dict(findings or {}),
        )
    except StatusConflict:
        return None  # retired (or restarted) while the checks ran
    failed = [c for c in checks if not c["ok"]]
    model.healthy = passed
    model.health_detail = "verified" if passed else f"{failed[0]['name']}: {failed[0]['detail']}"
    model.health_checked_at = utcnow()
    session.flush()
    return model


def suspend_for_drift(
    model: ModelEndpoint, reason: str, evidence: Mapping[str, Any] | None = None
) -> None:
    """An approved endpoint stopped serving what was verified: out of the pool, with the
    evidence (e.g. expected and received canary answers) in the report's ``drift``."""
    extra = {"drift": dict(evidence)} if evidence is not None else {}
    try:
        move(model, "suspend", suspended_reason=reason[:500], **extra)
    except StatusConflict:
        return  # retired meanwhile: nothing to suspend
    model.healthy = False
