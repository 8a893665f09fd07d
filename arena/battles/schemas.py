from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from arena.votes.schemas import RevealedModel
from arena.votes.vocabulary import Side


class BattleCreated(BaseModel):
    battle_id: str
    sides: list[Side]


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str


class ResponseView(BaseModel):
    content: str
    status: Literal["streaming", "done", "failed"]
    finish_reason: str | None = None
    error: str | None = None


class TurnView(BaseModel):
    index: int
    content: str
    status: Literal["streaming", "done", "failed"]
    responses: dict[Side, ResponseView]


class BattleView(BaseModel):
    battle_id: str
    sides: list[Side]
    created_at: str
    turns: list[TurnView]
    can_send: bool
    can_vote: bool
    voted: bool
    winner: str | None = None
    revealed: dict[Side, RevealedModel] | None = None
