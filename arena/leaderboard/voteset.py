"""What a recompute counts, read in one SQL statement so every part agrees.

One statement sees one snapshot of the database on PostgreSQL (even under READ COMMITTED)
and on SQLite, so the runs of counted vote ids, the aggregated counts fitted from them, the
exclusion tallies and the marks all describe the same visible votes: a vote whose id is
below the watermark but whose transaction commits after the statement started is in none
of them. The runs are computed with the gaps-and-islands trick (`id - row_number()` is
constant along a run of consecutive ids), which both databases run as one sort.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, String, cast, func, literal_column, null, select, union_all
from sqlalchemy.orm import Session

from arena.categories import split_tags
from arena.exports.columns import model_names
from arena.votes.tables import Vote, VoteExclusion
from arena.votes.vocabulary import LMSYS_WINNER
from ratings.counts import PairCounts, counts_from_rows

RUN, CELL, EXCLUDED, VOTE_MARK, EXCLUSION_MARK = range(5)
_NO_INT: Any = cast(null(), Integer)
_NO_TEXT: Any = cast(null(), String)


@dataclass(frozen=True)
class Inputs:
    watermark: int
    names: dict[int, str]
    # (model_a name, model_b name, LMSYS winner) -> count, included votes only
    cells: dict[tuple[str, str, str], int]
    excluded: dict[str, int]
    params: dict[str, Any]
    # ascending [lo, hi] runs of the counted vote ids
    runs: list[list[int]]
    marks: dict[str, Any]
    # excluded votes per category tag, by reason
    excluded_by_category: dict[str, dict[str, int]]

    @property
    def votes_included(self) -> int:
        return sum(self.cells.values())

    def counts(self) -> PairCounts:
        return counts_from_rows((a, b, w, n) for (a, b, w), n in self.cells.items())


def run_length(runs: list[list[int]]) -> int:
    return sum(hi - lo + 1 for lo, hi in runs)


def _part(kind: int, x: Any, y: Any, w: Any, n: Any, t: Any = None) -> Any:
    return select(
        literal_column(str(kind), Integer).label("kind"),
        x.label("x"),
        y.label("y"),
        w.label("w"),
        n.label("n"),
        (_NO_TEXT if t is None else t).label("t"),
    )


def _statement() -> Any:
    counted = Vote.included.is_(True)
    islands = (
        select(Vote.id.label("id"), (Vote.id - func.row_number().over(order_by=Vote.id)).label("g"))
        .where(counted)
        .subquery()
    )
    runs = _part(RUN, func.min(islands.c.id), func.max(islands.c.id), _NO_TEXT, _NO_INT).group_by(
        islands.c.g
    )
    cells = (
        _part(CELL, Vote.model_a_id, Vote.model_b_id, Vote.winner, func.count())
        .where(counted)
        .group_by(Vote.model_a_id, Vote.model_b_id, Vote.winner)
    )
    excluded = (
        _part(
            EXCLUDED,
            _NO_INT,
            _NO_INT,
            VoteExclusion.reason,
            func.count(func.distinct(VoteExclusion.vote_id)),
            Vote.categories,
        )
        .join(Vote, Vote.id == VoteExclusion.vote_id)
        .where(Vote.included.is_(False))
        .group_by(VoteExclusion.reason, Vote.categories)
    )
    vote_mark = _part(VOTE_MARK, func.max(Vote.id), func.count(), _NO_TEXT, _NO_INT)
    excl_mark = _part(
        EXCLUSION_MARK, func.max(VoteExclusion.id), func.count(), _NO_TEXT, _NO_INT
    ).select_from(VoteExclusion)
    return union_all(runs, cells, excluded, vote_mark.select_from(Vote), excl_mark)


def gather(session: Session, params: dict[str, Any]) -> Inputs:
    names = model_names(session)
    runs: list[list[int]] = []
    cells: dict[tuple[str, str, str], int] = {}
    excluded: dict[str, int] = {}
    by_tag: dict[str, dict[str, int]] = {}
    marks: dict[str, Any] = {}
    for kind, x, y, w, n, t in session.execute(_statement()):
        if kind == RUN:
            runs.append([int(x), int(y)])
        elif kind == CELL:
            key = (names[x], names[y], LMSYS_WINNER[w])
            cells[key] = cells.get(key, 0) + int(n)
        elif kind == EXCLUDED:
            excluded[w] = excluded.get(w, 0) + int(n)
            for tag in split_tags(t):
                tally = by_tag.setdefault(tag, {})
                tally[w] = tally.get(w, 0) + int(n)
        else:
            marks["votes" if kind == VOTE_MARK else "exclusions"] = [int(x or 0), int(y)]
    runs.sort()
    inputs = Inputs(marks["votes"][0], names, cells, excluded, params, runs, marks, by_tag)
    if run_length(runs) != inputs.votes_included:
        # One statement, one snapshot: this can only be a bug, never a race.
        raise RuntimeError(
            f"vote set of {run_length(runs)} ids but {inputs.votes_included} counted votes"
        )
    return inputs


def source_marks(session: Session) -> dict[str, Any]:
    """Max id and row count of votes and exclusions: rows are never deleted, so equal
    marks mean no vote or exclusion committed since (a late commit raises the count)."""
    v = session.execute(select(func.max(Vote.id), func.count()).select_from(Vote)).one()
    e = session.execute(
        select(func.max(VoteExclusion.id), func.count()).select_from(VoteExclusion)
    ).one()
    return {"votes": [int(v[0] or 0), int(v[1])], "exclusions": [int(e[0] or 0), int(e[1])]}
