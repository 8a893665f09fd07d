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
    """Column names in file order, their Arrow types (by name, so pyarrow loads late) and
    what each means: the /data page documents the downloads from these, so the docs are
    the definitions."""

    names: tuple[str, ...]
    types: tuple[str, ...]
    descriptions: tuple[str, ...]

    @classmethod
    def of(cls, *columns: tuple[str, str, str]) -> Columns:
        return cls(
            tuple(n for n, _, _ in columns),
            tuple(t for _, t, _ in columns),
            tuple(d for _, _, d in columns),
        )

    def only(self, names: Sequence[str]) -> Columns:
        """These columns, in the given order; unknown names are an error."""
        known = {c[0]: c for c in self.documented()}
        missing = [n for n in names if n not in known]
        if missing:
            raise ValueError(f"unknown columns {missing}")
        return Columns.of(*(known[n] for n in names))

    def documented(self) -> list[tuple[str, str, str]]:
        """(name, type, description) per column, in file order."""
        return list(zip(self.names, self.types, self.descriptions, strict=True))


# Style features carry arena-rank's names, so `arena ratings fit --style` reads them.
_STYLE = [
    ("sum_assistant_tokens_a", "a_tokens", "completion tokens of A's answers, all turns"),
    ("sum_assistant_tokens_b", "b_tokens", "completion tokens of B's answers, all turns"),
    ("answer_chars_a", "a_chars", "characters of A's answers, all turns"),
    ("answer_chars_b", "b_chars", "characters of B's answers, all turns"),
    ("header_count_a", "a_headers", "Markdown headers in A's answers, outside code blocks"),
    ("header_count_b", "b_headers", "Markdown headers in B's answers, outside code blocks"),
    ("list_count_a", "a_lists", "Markdown list items in A's answers, outside code blocks"),
    ("list_count_b", "b_lists", "Markdown list items in B's answers, outside code blocks"),
    ("bold_count_a", "a_bold", "bold spans in A's answers, outside code blocks"),
    ("bold_count_b", "b_bold", "bold spans in B's answers, outside code blocks"),
]

VOTE_COLUMNS = Columns.of(
    ("vote_id", "int64", "the vote's id; rows are in this order"),
    ("battle_id", "string", "the battle voted on"),
    ("tstamp", "float64", "when the vote was cast, Unix seconds (UTC)"),
    ("model_a", "string", "the model that answered as Model A"),
    ("model_b", "string", "the model that answered as Model B"),
    ("winner", "string", "model_a, model_b, tie or tie (bothbad), as in LMSYS arena dumps"),
    ("turns", "int64", "user messages in the battle when the vote was cast"),
    (
        "categories",
        "string",
        "the conversation's category tags, comma-separated and sorted; empty for none",
    ),
    ("included", "bool", "whether the vote counts for the board (false: excluded)"),
    (
        "exclusion_reason",
        "string",
        "why it is excluded, reasons comma-separated and sorted; empty when counted",
    ),
    ("excluded_at", "float64", "when it was first excluded, Unix seconds; null when counted"),
    *((name, "int64", meaning) for name, _, meaning in _STYLE),
)
PREFERENCE_COLUMNS = Columns.of(
    ("vote_id", "int64", "the vote's id"),
    ("battle_id", "string", "the battle voted on"),
    ("prompt", "string", "the last user message, the one both answers reply to"),
    ("conversation", "string", "every user message of the battle, a JSON array of strings"),
    ("chosen", "string", "the winning side's answer to the last message"),
    ("rejected", "string", "the losing side's answer to the last message"),
    ("chosen_model", "string", "the model that gave the chosen answer"),
    ("rejected_model", "string", "the model that gave the rejected answer"),
    ("included", "bool", "whether the vote counts for the board (false: excluded)"),
)
SNAPSHOT_COLUMNS = Columns.of(
    ("snapshot_id", "int64", "the snapshot's id; GET /api/v1/snapshots/{id} describes it"),
    ("computed_at", "string", "when the snapshot was computed, ISO 8601 (UTC)"),
    ("view", "string", "the board's view (default: every counted vote)"),
    ("category", "string", "the category the board is restricted to; null for all"),
    ("method", "string", "the rating method (bradley-terry)"),
    ("vote_watermark", "int64", "the highest vote id the recompute saw"),
    ("sha256", "string", "hex sha256 of the snapshot's jsonl votes download"),
    (
        "fit_args",
        "string",
        "JSON array: the `arena ratings fit FILE --json` arguments that reproduce the rows",
    ),
    ("model", "string", "the model this row rates"),
    ("rating", "float64", "Bradley-Terry rating on the Elo scale (mean 1000 unless anchored)"),
    ("ci_low", "float64", "lower end of the 95% interval"),
    ("ci_high", "float64", "upper end of the 95% interval"),
    ("rank", "int64", "1 + the number of models rated higher"),
    ("rank_ub", "int64", "1 + the number of models whose interval lies entirely above"),
    ("battles", "int64", "counted votes this model was in"),
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
    *(getattr(Vote, attr) for _, attr, _ in _STYLE),
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
