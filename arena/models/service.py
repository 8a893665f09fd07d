"""Registering, updating and listing model endpoints; status moves are `lifecycle`'s."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arena.db import utcnow
from arena.models import lifecycle
from arena.models.errors import ModelError as ModelError  # re-exported for the CLI
from arena.models.errors import ModelNotFound, NameTaken
from arena.models.tables import LICENSES, ModelEndpoint
from serving.fleet import ModelEntry


@dataclass(frozen=True)
class OperatorModel:
    name: str
    base_url: str
    api_model: str
    license: str = "open"
    organization: str = ""
    api_key_env: str | None = None
    aliases: list[str] = field(default_factory=list)
    parameters: int | None = None


def operator_model_from_fleet(entry: ModelEntry) -> OperatorModel:
    """How a fleet file's entry is registered: display name, served name, aliases."""
    return OperatorModel(
        name=entry.name,
        base_url=entry.base_url,
        api_model=entry.served_name,
        license=entry.license,
        organization=entry.organization,
        aliases=list(entry.aliases),
        parameters=entry.parameters,
    )


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


def check_parameters(parameters: int | None) -> None:
    if parameters is not None and not 0 < parameters <= 10**15:
        raise ModelError(f"parameters must be a positive parameter count, got {parameters}")


def check_fields(name: str, api_model: str, license: str) -> None:
    if not name.strip() or len(name) > 200:
        raise ModelError("model name must be 1 to 200 characters")
    if not api_model.strip():
        raise ModelError("served model name (api_model) must not be empty")
    if license not in LICENSES:
        raise ModelError(f"license must be one of {', '.join(LICENSES)}, got {license!r}")


def get_by_name(session: Session, name: str) -> ModelEndpoint | None:
    return session.scalar(select(ModelEndpoint).where(ModelEndpoint.name == name))


def get_model(session: Session, model_id: int) -> ModelEndpoint:
    model = session.get(ModelEndpoint, model_id)
    if model is None:
        raise ModelNotFound(f"no model with id {model_id}")
    return model


def add_operator_model(session: Session, spec: OperatorModel) -> ModelEndpoint:
    """Operator endpoints are trusted: approved at once, no SSRF restriction."""
    check_fields(spec.name, spec.api_model, spec.license)
    check_parameters(spec.parameters)
    if get_by_name(session, spec.name) is not None:
        raise ModelError(f"model {spec.name!r} already exists")
    now = utcnow()
    model = ModelEndpoint(
        name=spec.name.strip(),
        organization=spec.organization.strip(),
        license=spec.license,
        parameters=spec.parameters,
        base_url=normalise_base_url(spec.base_url),
        api_model=spec.api_model.strip(),
        api_key_ref=f"env:{spec.api_key_env}" if spec.api_key_env else None,
        aliases=[a for a in spec.aliases if a.strip()],
        source="operator",
        report={},
        created_at=now,
        **lifecycle.initial_fields("operator", now),
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
    check_parameters(spec.parameters)
    model.base_url = normalise_base_url(spec.base_url)
    model.api_model = spec.api_model
    model.organization = spec.organization
    model.license = spec.license
    model.parameters = spec.parameters
    model.aliases = list(spec.aliases)
    model.api_key_ref = f"env:{spec.api_key_env}" if spec.api_key_env else None
    lifecycle.reregister(model)
    session.flush()
    return model


def list_models(session: Session, status: str | None = None) -> list[ModelEndpoint]:
    stmt = select(ModelEndpoint).order_by(ModelEndpoint.id)
    if status is not None:
        stmt = stmt.where(ModelEndpoint.status == status)
    return list(session.scalars(stmt))


def describe(model: ModelEndpoint) -> dict[str, Any]:
    """The operator's view (includes the URL; never the API key)."""
    return {
        "id": model.id,
        "name": model.name,
        "organization": model.organization,
        "license": model.license,
        "parameters": model.parameters,
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


# Owner endpoints: registered unverified, verified automatically, approved by the admin.


@dataclass(frozen=True)
class OwnerModel:
    name: str
    organization: str
    license: str
    base_url: str
    api_model: str
    aliases: tuple[str, ...] = ()
    parameters: int | None = None


def clean_aliases(values: Iterable[str]) -> list[str]:
    """Stripped, non-empty, each once (whatever its case), in the order given."""
    seen: dict[str, str] = {}
    for value in values:
        value = value.strip()
        if value:
            seen.setdefault(value.lower(), value)
    return list(seen.values())


def identity_aliases(model: ModelEndpoint, probed: Iterable[str] = ()) -> list[str]:
    """An owner model's aliases: its served name's tail (`org/Name-7B` → `Name-7B`: the
    served name gives a model away too), the owner's, and the names its probes gave."""
    tail = model.api_model.strip().rsplit("/", 1)[-1]
    return clean_aliases([tail, *(model.owner_aliases or []), *probed])


def name_taken(session: Session, name: str) -> bool:
    """Names differing only in case would read as the same model on the board."""
    stmt = select(ModelEndpoint.id).where(func.lower(ModelEndpoint.name) == name.strip().lower())
    return session.scalar(stmt.limit(1)) is not None


def add_owner_model(
    session: Session, owner_id: int, spec: OwnerModel, api_key_ref: str | None
) -> ModelEndpoint:
    """A new owner endpoint, waiting for verification; never approved here."""
    check_fields(spec.name, spec.api_model, spec.license)
    check_parameters(spec.parameters)
    base_url = normalise_base_url(spec.base_url)
    if name_taken(session, spec.name):
        raise NameTaken(f"a model named {spec.name.strip()!r} already exists")
    now = utcnow()
    model = ModelEndpoint(
        name=spec.name.strip(),
        organization=spec.organization.strip(),
        license=spec.license,
        parameters=spec.parameters,
        base_url=base_url,
        api_model=spec.api_model.strip(),
        api_key_ref=api_key_ref,
        owner_aliases=clean_aliases(spec.aliases),
        source="owner",
        owner_id=owner_id,
        report={"checks": []},
        created_at=now,
        **lifecycle.initial_fields("owner", now),
    )
    model.aliases = identity_aliases(model)
    session.add(model)
    session.flush()
    return model


def restart_verification(
    model: ModelEndpoint,
    *,
    base_url: str | None = None,
    api_model: str | None = None,
    api_key_ref: str | None = None,
    aliases: Iterable[str] | None = None,
) -> None:
    """Back to `verifying`, optionally with a corrected URL, served name, key or aliases.
    The names from the last identity probes stay until the new probes replace them, so a
    battle voted on meanwhile is still checked against them."""
    lifecycle.check_owner_managed(model)  # an operator's model is refused before any field
    if base_url is not None:
        base_url = normalise_base_url(base_url)
    if api_model is not None:
        check_fields(model.name, api_model, model.license)
    lifecycle.reverify(model)
    if base_url is not None:
        model.base_url = base_url
    if api_model is not None:
        model.api_model = api_model.strip()
    if api_key_ref is not None:
        model.api_key_ref = api_key_ref
    if aliases is not None:
        model.owner_aliases = clean_aliases(aliases)
    model.aliases = clean_aliases([*(model.aliases or []), *identity_aliases(model)])


def list_approved(session: Session) -> list[ModelEndpoint]:
    stmt = select(ModelEndpoint).where(ModelEndpoint.status == "approved")
    return list(session.scalars(stmt.order_by(ModelEndpoint.name)))
