from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from arena.db import Base, utcnow

STATUSES = ("verifying", "verified", "rejected", "approved", "suspended", "retired")
LICENSES = ("open", "proprietary")


class ModelEndpoint(Base):
    """An OpenAI-compatible endpoint serving one model; never deleted, only retired."""

    __tablename__ = "model_endpoints"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES!r}", name="status"),
        CheckConstraint(f"license IN {LICENSES!r}", name="license"),
        CheckConstraint("source IN ('operator', 'owner')", name="source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    organization: Mapped[str] = mapped_column(String(200), default="")
    license: Mapped[str] = mapped_column(String(20), default="open")
    # Parameter count of the weights where known (fleet file, `models add --parameters`, the
    # owner's registration); shown on the board.
    parameters: Mapped[int | None] = mapped_column(BigInteger)
    base_url: Mapped[str] = mapped_column(String(2000))
    api_model: Mapped[str] = mapped_column(String(500))
    # "env:VAR" (operator: read from the environment at call time) or "enc:<fernet token>"
    # (owner: encrypted with a key derived from ARENA_SECRET_KEY); never the key in clear.
    api_key_ref: Mapped[str | None] = mapped_column(Text)
    # Every extra name/organization that would identify the model inside an answer: the
    # served name's tail, the owner's (or fleet file's) aliases, and for owner endpoints the
    # names its identity probes gave at the last verification.
    aliases: Mapped[list[str]] = mapped_column(default=list)
    # The aliases the owner gave, kept apart so a new verification can rebuild `aliases`.
    owner_aliases: Mapped[list[str]] = mapped_column(default=list, server_default=text("'[]'"))
    source: Mapped[str] = mapped_column(String(20), default="operator")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="verifying", index=True)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    healthy: Mapped[bool] = mapped_column(default=False)
    health_detail: Mapped[str] = mapped_column(Text, default="")
    health_checked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    verified_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    suspended_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]


class EndpointFingerprint(Base):
    """What an endpoint answered to the canary prompts at a verification; the newest row of
    a model is the one periodic canaries are compared with. Never deleted."""

    __tablename__ = "endpoint_fingerprints"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("model_endpoints.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # id, owned_by, max_model_len, root as /v1/models said them.
    listing: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # [{"prompt", "answer", "digest"}] in the order they are asked.
    canaries: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    seed: Mapped[int | None]
    max_tokens: Mapped[int]
    # The last periodic round: when it was claimed, and what it found.
    checked_at: Mapped[datetime | None]
    last_check: Mapped[dict[str, Any]] = mapped_column(default=dict)
