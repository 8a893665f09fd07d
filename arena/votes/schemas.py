from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from arena.votes.vocabulary import Side, Winner


class VoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    winner: Winner


class RevealedModel(BaseModel):
    model: str
    organization: str


class VoteOut(BaseModel):
    vote_id: int
    revealed: dict[Side, RevealedModel]
