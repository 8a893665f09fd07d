"""`duplicate_prompt`: over-represented prompts keep a fixed number of votes, as LMSYS does.

FastChat's deduplication.py counts each prompt (the user messages of a battle) over the whole
dataset, takes the 99.9th-percentile count as a cut-off (the leaderboard's "top 0.1%"), and
keeps, of every prompt counted more often than that, a random sample of cut-off many battles.
A board has to be reproducible vote by vote, and whether a vote counts must not change when
later votes arrive, so we decide at cast time, deterministically, in the order the votes are
counted:

- a prompt is the first user message, normalised (Unicode NFKC, case-folded, whitespace
  collapsed) and hashed (sha256); `prompt_counts` holds the votes cast per hash, bumped by
  one atomic upsert per vote (the row lock orders concurrent votes on the same prompt);
- the n-th vote on a prompt is excluded when n > max(ARENA_DEDUP_MAX_VOTES, c), where c is
  the votes of the prompt ranked just below the top ARENA_DEDUP_TOP_SHARE of all prompts by
  votes (the cut-off: only prompts in that top share are ever counted above it). So an arena
  with fewer than 1/share prompts has no duplicates, and a prompt keeps its first votes,
  not a sample.

The counter row is read and written on every vote; the cut-off (a count of the prompts and
one indexed lookup) only when a prompt already has more than ARENA_DEDUP_MAX_VOTES votes.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from arena.settings import Settings
from arena.votes.tables import PromptCount

REASON = "duplicate_prompt"
_SPACE = re.compile(r"\s+")


def normalise(prompt: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", prompt).casefold()).strip()


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(normalise(prompt).encode()).hexdigest()


def _upsert(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(PromptCount)
        .values(prompt_hash=bindparam("digest"), votes=1)
        .on_conflict_do_update(
            index_elements=[PromptCount.prompt_hash], set_={"votes": PromptCount.votes + 1}
        )
        .returning(PromptCount.votes)
    )


# Built once per dialect: it runs on every vote.
_UPSERTS = {name: _upsert(name) for name in ("postgresql", "sqlite")}


def count_vote(session: Session, digest: str) -> int:
    """Add one vote to the prompt's count; its count including this vote."""
    conn = session.connection()
    return int(conn.execute(_UPSERTS[conn.dialect.name], {"digest": digest}).scalar_one())


def cutoff(session: Session, share: float) -> tuple[int, int]:
    """(number of prompts, votes of the prompt ranked just below the top `share`)."""
    prompts = int(session.scalar(select(func.count()).select_from(PromptCount)) or 0)
    top = math.floor(share * prompts)
    below = session.scalar(
        select(PromptCount.votes).order_by(PromptCount.votes.desc()).offset(top).limit(1)
    )
    return prompts, int(below or 0)


def duplicate_prompt(session: Session, settings: Settings, first_prompt: str) -> str | None:
    """Count this vote for its prompt; the exclusion detail if it is over the cap."""
    return duplicate_digest(session, settings, prompt_hash(first_prompt))


def duplicate_digest(session: Session, settings: Settings, digest: str) -> str | None:
    """:func:`duplicate_prompt` for a prompt already hashed (:func:`prompt_hash`)."""
    n = count_vote(session, digest)
    if n <= settings.dedup_max_votes:
        return None
    prompts, below = cutoff(session, settings.dedup_top_share)
    cap = max(settings.dedup_max_votes, below)
    if n <= cap:
        return None
    return (
        f"vote {n} on a prompt among the top {settings.dedup_top_share:.2%} of {prompts} prompts "
        f"by votes (cut-off {below} votes); a prompt keeps its first {cap}"
    )
