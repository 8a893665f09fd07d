from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from arena.models.tables import ModelEndpoint

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ServedName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
BaseURL = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
ApiKey = Annotated[SecretStr, Field(min_length=1, max_length=4096)]
Alias = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64)]
MAX_ALIASES = 20
Aliases = Annotated[
    list[Alias],
    Field(
        max_length=MAX_ALIASES,
        description="other names or organizations an answer could give the model away by "
        f"(at most {MAX_ALIASES}, each 2 to 64 characters)",
    ),
]


class ModelCreate(BaseModel):
    """An owner's endpoint. The API key is stored encrypted and never shown again."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="display name on the board (unique)")
    organization: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    license: Literal["open", "proprietary"]
    parameters: int | None = Field(
        default=None, gt=0, le=10**15, description="parameter count of the weights, if known"
    )
    base_url: BaseURL = Field(description="http(s) root of an OpenAI-compatible server")
    api_model: ServedName = Field(description="the served model name sent in requests")
    api_key: ApiKey | None = None
    aliases: Aliases = []


class ModelUpdate(BaseModel):
    """Corrections before verification runs again; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    base_url: BaseURL | None = None
    api_model: ServedName | None = None
    api_key: ApiKey | None = None
    aliases: Aliases | None = None


class ModelAccepted(BaseModel):
    id: int
    status: str


class CheckOut(BaseModel):
    name: str
    ok: bool
    detail: str
    ms: float


class Report(BaseModel):
    checks: list[CheckOut] = []
    passed: bool | None = None
    suspended_reason: str | None = None
    # What the identity probes answered and the names taken from them.
    identity: dict[str, Any] | None = None
    # The fingerprint recorded at verification: listing and canary digests.
    fingerprint: dict[str, Any] | None = None
    # The last periodic canary round, and the evidence when it suspended the model.
    canaries: dict[str, Any] | None = None
    drift: dict[str, Any] | None = None


class ModelView(BaseModel):
    """The owner's and the admin's view; never the API key."""

    id: int
    name: str
    organization: str
    license: str
    parameters: int | None
    base_url: str
    api_model: str
    has_api_key: bool
    aliases: list[str]
    owner_aliases: list[str]
    source: str
    owner_id: int | None
    status: str
    healthy: bool
    health_detail: str
    health_checked_at: datetime | None
    report: Report
    created_at: datetime
    verified_at: datetime | None
    approved_at: datetime | None
    suspended_at: datetime | None
    retired_at: datetime | None

    @classmethod
    def of(cls, model: ModelEndpoint) -> ModelView:
        report: dict[str, Any] = model.report or {}
        return cls(
            id=model.id,
            name=model.name,
            organization=model.organization,
            license=model.license,
            parameters=model.parameters,
            base_url=model.base_url,
            api_model=model.api_model,
            has_api_key=bool(model.api_key_ref),
            aliases=list(model.aliases or []),
            owner_aliases=list(model.owner_aliases or []),
            source=model.source,
            owner_id=model.owner_id,
            status=model.status,
            healthy=model.healthy,
            health_detail=model.health_detail,
            health_checked_at=model.health_checked_at,
            report=Report.model_validate(report),
            created_at=model.created_at,
            verified_at=model.verified_at,
            approved_at=model.approved_at,
            suspended_at=model.suspended_at,
            retired_at=model.retired_at,
        )


class PublicModel(BaseModel):
    """What anyone may see of an approved model: no URL, no served name."""

    name: str
    organization: str
    license: str
    status: str
