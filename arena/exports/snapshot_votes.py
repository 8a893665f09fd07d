"""A snapshot's votes download: the votes of its vote set, as that recompute counted them.

The per-vote data (sides, winner, time, style features) never changes after the vote is
cast, so reading the vote rows again and keeping those whose id lies in the set's runs
gives the same rows whatever happened since: votes committed later and votes excluded
later are simply not in the runs, or in them with `included` true and no reason. A
category board's download keeps the rows whose tags hold its category, as
`arena ratings fit --category` reads them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.orm import Session

from arena.categories import split_tags
from arena.exports.columns import model_names, raw_vote_batches, vote_rows, vote_select


def in_category(rows: list[dict[str, Any]], category: str) -> list[dict[str, Any]]:
    """The rows whose comma-joined ``categories`` hold ``category`` exactly."""
    return [r for r in rows if category in split_tags(r["categories"])]


def board_batches(
    session: Session, runs: Sequence[Sequence[int]], category: str | None
) -> Iterator[list[dict[str, Any]]]:
    """One board's download: the vote set's rows, only those of ``category`` when given."""
    for rows in counted_batches(session, runs):
        kept = rows if category is None else in_category(rows, category)
        if kept:
            yield kept


def counted_batches(
    session: Session, runs: Sequence[Sequence[int]], *, above: int = 0
) -> Iterator[list[dict[str, Any]]]:
    """Vote rows of the ids in ``runs`` (ascending ``[lo, hi]`` pairs) above ``above``."""
    if not runs or runs[-1][1] <= above:
        return
    names = model_names(session)
    k = 0
    lo, hi = max(runs[0][0], above + 1), runs[-1][1]
    for raw in raw_vote_batches(session, vote_select(lo, hi)):
        keep = []
        for r in raw:
            vid = r[0]
            while runs[k][1] < vid:
                k += 1
            if runs[k][0] <= vid:
                keep.append(r)
        if keep:
            yield vote_rows(keep, names, None)
