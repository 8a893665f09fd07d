"""Registering, listing and changing the status of model endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.db import utcnow
from arena.models.tables import LICENSES, ModelEndpoint


class ModelError(ValueError):
    """A registration or lookup that cannot be done; the message is shown to the user."""


@dataclass(frozen=True)
class OperatorModel:
    name: str
    base_url: str
    api_model: str
    license: str = "open"
    organization: str = ""
    api_key_env: str | None = None
    aliases: list[str] = field(default_factory=list)


def normalise_base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelError(f"base URL must be an http(s) URL, got {url!r}")
    if parts.username or parts.password:
        raise ModelError("base URL must not carry credentials; use an API key")
    if parts.query or parts.fragment:
        raise ModelError("base URL must not have a query or fragment")
    return url


def check_fields(name: str, api_model: str, license: str) -> None:
    if not name.strip() or len(name) > 200:
        raise ModelError("model name must be 1 to 200 characters")
    if not api_model.strip():
        raise ModelError("served model name (api_model) must not be empty")
    if license not in LICENSES:
        raise ModelError(f"license must be one of {', '.join(LICENSES)}, got {license!r}")


def get_by_name(session: Session, name: str) -> ModelEndpoint | None:
    return session.scalar(select(ModelEndpoint).where(ModelEndpoint.name == name))


def require_by_name(session: Session, name: str) -> ModelEndpoint:
    model = get_by_name(session, name)
    if model is None:
        raise ModelError(f"unknown model {name!r}")
    return model


def add_operator_model(session: Session, spec: OperatorModel) -> ModelEndpoint:
    """Operator endpoints are trusted: approved at once, no SSRF restriction."""
    check_fields(spec.name, spec.api_model, spec.license)
    if get_by_name(session, spec.name) is not None:
        raise ModelError(f"model {spec.name!r} already exists")
    now = utcnow()
    model = ModelEndpoint(
        name=spec.name.strip(),
        organization=spec.organization.strip(),
        license=spec.license,
        base_url=normalise_base_url(spec.base_url),
        api_model=spec.api_model.strip(),
        api_key_ref=f"env:{spec.api_key_env}" if spec.api_key_env else None,
        aliases=[a for a in spec.aliases if a.strip()],
        source="operator",
        status="approved",
        report={},
        created_at=now,
        verified_at=now,
        approved_at=now,
    )
    session.add(model)
    session.flush()
    return model


def upsert_operator_model(session: Session, spec: OperatorModel) -> ModelEndpoint:
    """Fleet registration: create, or bring an existing entry up to date (and back)."""
    model = get_by_name(session, spec.name)
    if model is None:
        return add_operator_model(session, spec)
    check_fields(spec.name, spec.api_model, spec.license)
    model.base_url = normalise_base_url(spec.base_url)
    model.api_model = spec.api_model
    model.organization = spec.organization
    model.license = spec.license
    model.aliases = list(spec.aliases)
    model.api_key_ref = f"env:{spec.api_key_env}" if spec.api_key_env else None
    if model.status in ("suspended", "verified", "verifying"):
        model.status = "approved"
        model.approved_at = utcnow()
    session.flush()
    return model


def list_models(session: Session) -> list[ModelEndpoint]:
    return list(session.scalars(select(ModelEndpoint).order_by(ModelEndpoint.id)))


def describe(model: ModelEndpoint) -> dict[str, Any]:
    """The operator's view (includes the URL; never the API key)."""
    return {
        "id": model.id,
        "name": model.name,
        "organization": model.organization,
        "license": model.license,
        "base_url": model.base_url,
        "api_model": model.api_model,
        "status": model.status,
        "source": model.source,
        "healthy": model.healthy,
        "health_detail": model.health_detail,
        "health_checked_at": model.health_checked_at,
        "created_at": model.created_at,
    }


def battle_pool(session: Session) -> list[ModelEndpoint]:
    """Approved and healthy: the models a new battle may draw."""
    stmt = (
        select(ModelEndpoint)
        .where(ModelEndpoint.status == "approved", ModelEndpoint.healthy.is_(True))
        .order_by(ModelEndpoint.id)
    )
    return list(session.scalars(stmt))
