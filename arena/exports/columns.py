"""The columns of every download, and the one definition of a vote row.

The live vote export and a snapshot's votes download share `VOTE_COLUMNS` and `vote_rows`;
they differ only in where `included`, `exclusion_reason` and `excluded_at` come from (the
ledger now, or "counted" as the snapshot saw it). Values are plain JSON scalars with a
fixed order and fixed formatting (`tstamp`/`excluded_at`: Unix seconds as float), so the
same votes always serialise to the same jsonl bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from arena.models.tables import ModelEndpoint
from arena.votes.tables import Vote
from arena.votes.vocabulary import LMSYS_WINNER

BATCH = 20_000


@dataclass(frozen=True)
class Columns:
    """Column names in file order and their Arrow types (by name, so pyarrow loads late)."""

    names: tuple[str, ...]
    types: tuple[str, ...]

    @classmethod
    def of(cls, *pairs: tuple[str, str]) -> Columns:
        return cls(tuple(n for n, _ in pairs), tuple(t for _, t in pairs))

    def only(self, names: Sequence[str]) -> Columns:
        """These columns, in the given order; unknown names are an error."""
        kinds = dict(zip(self.names, self.types, strict=True))
        missing = [n for n in names if n not in kinds]
        if missing:
            raise ValueError(f"unknown columns {missing}")
        return Columns(tuple(names), tuple(kinds[n] for n in names))


# Style features carry arena-rank's names, so `arena ratings fit --style` reads them.
_STYLE = [
    ("sum_assistant_tokens_a", "a_tokens"),
    ("sum_assistant_tokens_b", "b_tokens"),
    ("answer_chars_a", "a_chars"),
    ("answer_chars_b", "b_chars"),
    ("header_count_a", "a_headers"),
    ("header_count_b", "b_headers"),
    ("list_count_a", "a_lists"),
    ("list_count_b", "b_lists"),
    ("bold_count_a", "a_bold"),
    ("bold_count_b", "b_bold"),
]

VOTE_COLUMNS = Columns.of(
    ("vote_id", "int64"),
    ("battle_id", "string"),
    ("tstamp", "float64"),
    ("model_a", "string"),
    ("model_b", "string"),
    ("winner", "string"),
    ("turns", "int64"),
    ("categories", "string"),
    ("included", "bool"),
    ("exclusion_reason", "string"),
    ("excluded_at", "float64"),
    *((name, "int64") for name, _ in _STYLE),
)
PREFERENCE_COLUMNS = Columns.of(
    ("vote_id", "int64"),
    ("battle_id", "string"),
    ("prompt", "string"),
    ("conversation", "string"),
    ("chosen", "string"),
    ("rejected", "string"),
    ("chosen_model", "string"),
    ("rejected_model", "string"),
    ("included", "bool"),
)
SNAPSHOT_COLUMNS = Columns.of(
    ("snapshot_id", "int64"),
    ("computed_at", "string"),
    ("view", "string"),
    ("category", "string"),
    ("method", "string"),
    ("vote_watermark", "int64"),
    ("sha256", "string"),
    ("fit_args", "string"),
    ("model", "string"),
    ("rating", "float64"),
    ("ci_low", "float64"),
    ("ci_high", "float64"),
    ("rank", "int64"),
    ("rank_ub", "int64"),
    ("battles", "int64"),
)

_FIELDS = (
    Vote.id,
    Vote.battle_id,
    Vote.created_at,
    Vote.model_a_id,
    Vote.model_b_id,
    Vote.winner,
    Vote.turns,
    Vote.included,
    *(getattr(Vote, attr) for _, attr in _STYLE),
    Vote.categories,
)


@dataclass(frozen=True)
class Ledger:
    """What the exclusion ledger says of one vote: its reasons and when it was first
    excluded (Unix seconds)."""

    reason: str
    excluded_at: float | None


COUNTED = Ledger("", None)


def vote_select(lo: int | None = None, hi: int | None = None) -> Select[Any]:
    """The vote columns, ordered by id, optionally within ``lo <= id <= hi``."""
    stmt = select(*_FIELDS).order_by(Vote.id)
    if lo is not None:
        stmt = stmt.where(Vote.id >= lo)
    if hi is not None:
        stmt = stmt.where(Vote.id <= hi)
    return stmt


def model_names(session: Session) -> dict[int, str]:
    return {
        mid: name for mid, name in session.execute(select(ModelEndpoint.id, ModelEndpoint.name))
    }


def raw_vote_batches(session: Session, stmt: Select[Any]) -> Iterator[Sequence[Any]]:
    """Rows of ``stmt`` in batches, through a server-side cursor where there is one.

    Executed on the session's connection: plain Core rows, without the ORM's loading
    layer, which would double the time per row of a million-vote download."""
    stmt = stmt.execution_options(stream_results=True, yield_per=BATCH)
    yield from session.connection().execute(stmt).partitions(BATCH)


def vote_rows(
    raw: Sequence[Any], names: dict[int, str], ledger: dict[int, Ledger] | None
) -> list[dict[str, Any]]:
    """Vote rows in `VOTE_COLUMNS` order; ``ledger=None``: every vote as counted."""
    out = []
    for r in raw:
        vid = r[0]
        if ledger is None:
            included, state = True, COUNTED
        else:
            included, state = r[7], ledger.get(vid, COUNTED)
        out.append(
            {
                "vote_id": vid,
                "battle_id": r[1],
                "tstamp": r[2].timestamp(),
                "model_a": names[r[3]],
                "model_b": names[r[4]],
                "winner": LMSYS_WINNER[r[5]],
                "turns": r[6],
                "categories": r[18],
                "included": included,
                "exclusion_reason": state.reason,
                "excluded_at": state.excluded_at,
                "sum_assistant_tokens_a": r[8],
                "sum_assistant_tokens_b": r[9],
                "answer_chars_a": r[10],
                "answer_chars_b": r[11],
                "header_count_a": r[12],
                "header_count_b": r[13],
                "list_count_a": r[14],
                "list_count_b": r[15],
                "bold_count_a": r[16],
                "bold_count_b": r[17],
            }
        )
    return out
