from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from arena.db import Base, utcnow


class Battle(Base):
    """Two anonymous sides answering the same conversation; side A/B is drawn per battle."""

    __tablename__ = "battles"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_a_id: Mapped[int] = mapped_column(ForeignKey("model_endpoints.id"), index=True)
    model_b_id: Mapped[int] = mapped_column(ForeignKey("model_endpoints.id"), index=True)
    system_message: Mapped[str] = mapped_column(Text)
    client_hash: Mapped[str] = mapped_column(String(64), index=True)
    ip_hash: Mapped[str] = mapped_column(String(64))
    network_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the server finished both sides of the latest turn; `too_fast` is timed from here.
    last_finished_at: Mapped[datetime | None]
    voted_at: Mapped[datetime | None]


class BattleTurn(Base):
    __tablename__ = "battle_turns"
    __table_args__ = (
        UniqueConstraint("battle_id", "idx"),
        CheckConstraint("status IN ('streaming', 'done', 'failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    battle_id: Mapped[str] = mapped_column(ForeignKey("battles.id"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="streaming")
    attempts: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # Categories of the conversation up to this turn, set when both answers are stored; the
    # vote copies the last turn's.
    categories: Mapped[str] = mapped_column(Text, default="", server_default="")
    # What a vote on the battle needs from its answers, through this turn (style features,
    # tokens, identity leaks, the prompt's hash: arena/votes/inputs.py), set with the
    # categories; null while the turn is not done and on turns stored before 0007.
    vote_inputs: Mapped[dict[str, Any] | None]


class BattleResponse(Base):
    """One side's answer to one turn (the latest attempt)."""

    __tablename__ = "battle_responses"
    __table_args__ = (
        UniqueConstraint("turn_id", "side"),
        CheckConstraint("side IN ('A', 'B')", name="side"),
        CheckConstraint("status IN ('streaming', 'done', 'failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("battle_turns.id"), index=True)
    side: Mapped[str] = mapped_column(String(1))
    role: Mapped[str] = mapped_column(String(20), default="assistant")
    content: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="streaming")
    finish_reason: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)
    prompt_tokens: Mapped[int | None]
    completion_tokens: Mapped[int | None]
    ttft_ms: Mapped[float | None]
    duration_ms: Mapped[float | None]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class SamplingDraw(Base):
    """The sampling ledger: every pair drawn for a battle, with its probability."""

    __tablename__ = "sampling_draws"

    id: Mapped[int] = mapped_column(primary_key=True)
    battle_id: Mapped[str] = mapped_column(ForeignKey("battles.id"), unique=True)
    model_a_id: Mapped[int] = mapped_column(ForeignKey("model_endpoints.id"), index=True)
    model_b_id: Mapped[int] = mapped_column(ForeignKey("model_endpoints.id"), index=True)
    probability: Mapped[float]
    pool_size: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
