from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from arena.models.schemas import ModelView

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _check_email(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _EMAIL.fullmatch(value):
        raise ValueError("not an email address")
    return value


class OwnerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    email: Annotated[
        str | None,
        StringConstraints(strip_whitespace=True, max_length=320),
        AfterValidator(_check_email),
    ] = None


class OwnerCreated(BaseModel):
    owner_id: int
    token: str = Field(description="the owner's bearer token; shown once, keep it safe")


# The owner's own models (GET /api/v1/owners/me/models).


class RatingNow(BaseModel):
    rating: float
    ci_low: float
    ci_high: float
    rank: int
    rank_ub: int
    models: int = Field(description="models on the board")
    snapshot_id: int


class HistoryPoint(BaseModel):
    snapshot_id: int
    computed_at: datetime
    rating: float
    ci_low: float
    ci_high: float
    rank: int
    battles: int


class Day(BaseModel):
    day: str = Field(description="UTC date, YYYY-MM-DD")
    battles: int
    votes: int
    votes_included: int


class WinRate(BaseModel):
    opponent: str
    wins: int
    losses: int
    ties: int
    bothbad: int
    votes: int
    win_rate: float = Field(description="ties and both-bad count half")


class Latency(BaseModel):
    answers: int = Field(description="finished battle answers measured (the latest ones)")
    ttft_ms_p50: float | None
    ttft_ms_p90: float | None
    duration_ms_p50: float | None
    duration_ms_p90: float | None
    tokens_per_second_p50: float | None


class Drift(BaseModel):
    at: datetime
    reason: str
    evidence: dict[str, Any] | None = None


class Performance(BaseModel):
    counts: dict[str, int]
    rating: RatingNow | None
    history: list[HistoryPoint]
    activity: list[Day]
    win_rates: list[WinRate]
    latency: Latency
    drift: list[Drift]


class OwnerModel(ModelView):
    aliases: list[str] = []
    performance: Performance | None = Field(
        None, description="once the model has been approved (also when suspended or retired)"
    )
