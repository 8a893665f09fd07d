from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

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
