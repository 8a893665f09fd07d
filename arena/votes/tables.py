from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from arena.db import Base, utcnow
from arena.votes.vocabulary import WINNERS


class Vote(Base):
    """One vote per battle (unique constraint). The id is the snapshot watermark."""

    __tablename__ = "votes"
    __table_args__ = (
        CheckConstraint(f"winner IN {WINNERS!r}", name="winner"),
        # The burst rule counts a network's votes of the last hour (arena/votes/abuse.py).
        Index("ix_votes_network_hash_created_at", "network_hash", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    battle_id: Mapped[str] = mapped_column(ForeignKey("battles.id"), unique=True)
    winner: Mapped[str] = mapped_column(String(10))
    # Who sat on side A and B, copied from the battle so ratings aggregate from one table.
    model_a_id: Mapped[int] = mapped_column(ForeignKey("model_endpoints.id"), index=True)
    model_b_id: Mapped[int] = mapped_column(ForeignKey("model_endpoints.id"), index=True)
    turns: Mapped[int]
    client_hash: Mapped[str] = mapped_column(String(64), index=True)
    ip_hash: Mapped[str] = mapped_column(String(64))
    network_hash: Mapped[str] = mapped_column(String(64))
    read_seconds: Mapped[float | None]
    included: Mapped[bool] = mapped_column(default=True, index=True)
    # Style features of the final answers (for style control), summed over turns.
    a_tokens: Mapped[int] = mapped_column(default=0)
    b_tokens: Mapped[int] = mapped_column(default=0)
    a_chars: Mapped[int] = mapped_column(default=0)
    b_chars: Mapped[int] = mapped_column(default=0)
    a_headers: Mapped[int] = mapped_column(default=0)
    b_headers: Mapped[int] = mapped_column(default=0)
    a_lists: Mapped[int] = mapped_column(default=0)
    b_lists: Mapped[int] = mapped_column(default=0)
    a_bold: Mapped[int] = mapped_column(default=0)
    b_bold: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Tags of the conversation (arena.categories), comma-joined and sorted; "" for none and for
    # votes cast before categories existed.
    categories: Mapped[str] = mapped_column(Text, default="", server_default="")


class PromptCount(Base):
    """Votes cast per prompt (hash of the normalised first user message), for the
    `duplicate_prompt` rule (arena/votes/dedup.py)."""

    __tablename__ = "prompt_counts"

    prompt_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    votes: Mapped[int] = mapped_column(index=True)


class VoteExclusion(Base):
    """Audit ledger: why a kept vote is left out of the ratings."""

    __tablename__ = "vote_exclusions"
    __table_args__ = (UniqueConstraint("vote_id", "reason"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey("votes.id"), index=True)
    reason: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
