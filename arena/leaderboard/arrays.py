"""The counted votes one by one, as NumPy arrays: what the style and category boards fit.

The headline board needs only the aggregated counts (`voteset.gather`); the style view needs
every vote's style features and the category boards every vote's tags, so those are read
once per recompute for the vote set's id range and kept to the ids in its runs. The per-vote
data never changes after the vote is cast, so this second statement agrees with the first
whatever committed in between: a vote excluded since is still in the runs (and read here,
since the read does not filter on `included`), a vote committed since is not in the runs.

On PostgreSQL the rows come through `COPY ... TO STDOUT` as CSV parsed by pyarrow (a
million votes in well under a second, against several seconds through row objects);
elsewhere through a plain select.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
from sqlalchemy import case, select
from sqlalchemy.orm import Session

from arena.categories import split_tags
from arena.votes.tables import Vote
from ratings.counts import OUTCOMES, PairCounts, counts_from_rows
from ratings.style import STYLE_FEATURES
from ratings.types import BoolArray, FloatArray, IntArray

# Vote attributes per style feature stem (ratings.style.STYLE_FEATURES), side A then B: the
# export writes them as <stem>_a / <stem>_b, which `arena ratings fit --view style` reads.
STYLE_ATTRS: dict[str, tuple[str, str]] = {
    "sum_assistant_tokens": ("a_tokens", "b_tokens"),
    "header_count": ("a_headers", "b_headers"),
    "list_count": ("a_lists", "b_lists"),
    "bold_count": ("a_bold", "b_bold"),
}
_WINNER_CODE = {"A": 0, "B": 1, "tie": 2, "bothbad": 3}  # ratings.counts.OUTCOMES order


@dataclass(frozen=True, eq=False)
class VoteArrays:
    """Counted votes, ascending by id; ``tag_code`` indexes ``tag_sets``."""

    ids: IntArray
    a: IntArray  # model ids
    b: IntArray
    outcome: IntArray
    features_a: FloatArray  # (N, F), STYLE_FEATURES order
    features_b: FloatArray
    tag_code: IntArray
    tag_sets: tuple[frozenset[str], ...]

    @property
    def size(self) -> int:
        return int(self.ids.size)

    def categories(self) -> dict[str, int]:
        """Votes per tag."""
        per_code = np.bincount(self.tag_code, minlength=len(self.tag_sets))
        out: dict[str, int] = {}
        for code, tags in enumerate(self.tag_sets):
            for tag in tags:
                out[tag] = out.get(tag, 0) + int(per_code[code])
        return out

    def mask(self, category: str) -> BoolArray:
        holds = np.array([category in tags for tags in self.tag_sets], dtype=bool)
        out: BoolArray = holds[self.tag_code] if holds.size else np.zeros(self.size, bool)
        return out

    def indexed(self, names: dict[int, str]) -> tuple[tuple[str, ...], IntArray, IntArray]:
        """Model names of the votes (only models that have one) and indices into them."""
        ids, inverse = np.unique(np.concatenate([self.a, self.b]), return_inverse=True)
        n = self.size
        return tuple(names[int(i)] for i in ids), inverse[:n], inverse[n:]

    @cached_property
    def _cells(self) -> tuple[IntArray, IntArray]:
        """Model ids present, and each vote's (model A, model B, outcome) cell among them."""
        ids, inverse = np.unique(np.concatenate([self.a, self.b]), return_inverse=True)
        n, m = self.size, ids.size
        return ids, (inverse[:n] * m + inverse[n:]) * len(OUTCOMES) + self.outcome

    def category_counts(self, names: dict[int, str], category: str) -> tuple[PairCounts, int]:
        """Pair counts of the votes holding ``category`` (as `arena ratings fit --category`
        counts them: the same cells as a `GROUP BY model_a, model_b, winner`), and how many
        votes that is. One bincount over the votes, no copy of their other columns."""
        ids, cell = self._cells
        m, k = ids.size, len(OUTCOMES)
        chosen = cell[self.mask(category)]
        tally = np.bincount(chosen, minlength=m * m * k)
        hit = np.flatnonzero(tally)
        a, rest = np.divmod(hit, m * k)
        b, o = np.divmod(rest, k)
        rows = (
            (names[int(ids[x])], names[int(ids[y])], OUTCOMES[z], float(c))
            for x, y, z, c in zip(a, b, o, tally[hit], strict=True)
        )
        return counts_from_rows(rows), int(chosen.size)


def _in_runs(ids: IntArray, runs: Sequence[Sequence[int]]) -> BoolArray:
    if not runs:
        return np.zeros(ids.size, dtype=bool)
    lo = np.array([r[0] for r in runs], dtype=np.int64)
    hi = np.array([r[1] for r in runs], dtype=np.int64)
    k = np.searchsorted(lo, ids, side="right") - 1
    ok = k >= 0
    out: BoolArray = ok & (ids <= hi[np.where(ok, k, 0)])
    return out


def _columns() -> list[str]:
    return [attr for stem in STYLE_FEATURES for attr in STYLE_ATTRS[stem]]


@dataclass(frozen=True, eq=False)
class _Rows:
    """Votes as read, ascending by id, counted or not; compact types (a cache holds these).

    ``tags`` index ``strings``, the distinct comma-joined tag strings."""

    ids: IntArray
    a: npt.NDArray[np.int32]
    b: npt.NDArray[np.int32]
    outcome: npt.NDArray[np.int8]
    feats: npt.NDArray[np.int32]  # (N, 2F): A then B per feature, STYLE_FEATURES order
    tags: npt.NDArray[np.int32]
    strings: tuple[str, ...]

    @classmethod
    def empty(cls) -> _Rows:
        return cls(
            np.zeros(0, np.int64),
            np.zeros(0, np.int32),
            np.zeros(0, np.int32),
            np.zeros(0, np.int8),
            np.zeros((0, 2 * len(STYLE_FEATURES)), np.int32),
            np.zeros(0, np.int32),
            (),
        )

    @classmethod
    def of(
        cls, numbers: npt.NDArray[np.int64], tags: npt.ArrayLike, strings: Sequence[str]
    ) -> _Rows:
        """From an (N, 4 + 2F) block of id, a, b, outcome, features."""
        return cls(
            np.ascontiguousarray(numbers[:, 0], dtype=np.int64),
            numbers[:, 1].astype(np.int32),
            numbers[:, 2].astype(np.int32),
            numbers[:, 3].astype(np.int8),
            numbers[:, 4:].astype(np.int32),
            np.asarray(tags, dtype=np.int32),
            tuple(strings),
        )

    def extend(self, more: _Rows) -> _Rows:
        """These rows and ``more`` (all of a higher id), with one tag dictionary."""
        index = {t: k for k, t in enumerate(self.strings)}
        strings = list(self.strings)
        for t in more.strings:
            if t not in index:
                index[t] = len(strings)
                strings.append(t)
        remap = np.array([index[t] for t in more.strings], dtype=np.int32)
        tags = remap[more.tags] if more.tags.size else more.tags
        return _Rows(
            np.concatenate([self.ids, more.ids]),
            np.concatenate([self.a, more.a]),
            np.concatenate([self.b, more.b]),
            np.concatenate([self.outcome, more.outcome]),
            np.concatenate([self.feats, more.feats]),
            np.concatenate([self.tags, tags]),
            tuple(strings),
        )

    def pack(self, runs: Sequence[Sequence[int]]) -> VoteArrays:
        keep = _in_runs(self.ids, runs)
        f = self.feats[keep].astype(np.float64)
        return VoteArrays(
            self.ids[keep],
            self.a[keep].astype(np.int64),
            self.b[keep].astype(np.int64),
            self.outcome[keep].astype(np.int64),
            np.ascontiguousarray(f[:, 0::2]),
            np.ascontiguousarray(f[:, 1::2]),
            self.tags[keep].astype(np.int64),
            tuple(frozenset(split_tags(t)) for t in self.strings),
        )


def _copy_postgres(session: Session, lo: int, hi: int) -> _Rows:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    feats = _columns()
    winner = "CASE winner " + " ".join(f"WHEN '{w}' THEN {c}" for w, c in _WINNER_CODE.items())
    # Only integers and fixed column names are formatted in: nothing comes from outside.
    columns = f"id, model_a_id, model_b_id, {winner} END, {', '.join(feats)}, categories"
    where = f"id BETWEEN {int(lo)} AND {int(hi)}"
    query = f"SELECT {columns} FROM votes WHERE {where} ORDER BY id"  # noqa: S608
    sql = f"COPY ({query}) TO STDOUT WITH (FORMAT csv)"
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    buf = io.BytesIO()
    with raw.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[attr-defined]
        for chunk in copy:
            buf.write(chunk)
    if not buf.tell():
        return _Rows.empty()
    names = ["id", "a", "b", "outcome", *feats, "categories"]
    types = {n: pa.int64() for n in names[:-1]} | {"categories": pa.string()}
    table = pacsv.read_csv(
        io.BytesIO(buf.getvalue()),
        read_options=pacsv.ReadOptions(column_names=names),
        convert_options=pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    )
    numbers = np.stack([table[n].to_numpy() for n in names[:-1]], axis=1).astype(np.int64)
    # Tag strings repeat (a few hundred distinct among a million votes): Arrow's dictionary
    # encoding codes them in C, where sorting Python strings would take seconds.
    coded = table["categories"].combine_chunks().dictionary_encode()
    return _Rows.of(numbers, coded.indices.to_numpy(), coded.dictionary.to_pylist())


def _select(session: Session, lo: int, hi: int) -> _Rows:
    winner = case(*((Vote.winner == w, c) for w, c in _WINNER_CODE.items()), else_=3)
    feats = [getattr(Vote, n) for n in _columns()]
    stmt = (
        select(Vote.id, Vote.model_a_id, Vote.model_b_id, winner, *feats, Vote.categories)
        .where(Vote.id.between(lo, hi))
        .order_by(Vote.id)
    )
    rows = session.connection().execute(stmt).all()
    if not rows:
        return _Rows.empty()
    width = 4 + len(feats)
    numbers = np.array([r[:width] for r in rows], dtype=np.int64).reshape(len(rows), width)
    index: dict[str, int] = {}
    codes = [index.setdefault(r[width], len(index)) for r in rows]
    return _Rows.of(numbers, codes, list(index))


def _read(session: Session, lo: int, hi: int) -> _Rows:
    if session.get_bind().dialect.name == "postgresql":
        return _copy_postgres(session, lo, hi)
    return _select(session, lo, hi)


class VoteCache:
    """The votes one process read at its previous recompute, so the next reads only the
    votes above them.

    Per-vote data never changes after the vote is cast, so rows once read stay right. A
    vote that committed late with an id below those read (a concurrent transaction) is
    missing here but in the new runs: the count of counted votes then falls short, and the
    whole range is read again. About 45 bytes a vote (a million votes: 45 MB).
    """

    def __init__(self) -> None:
        self._rows: _Rows | None = None
        # How the latest read went ("full" or "appended") and how many rows it read.
        self.last_read = ""
        self.last_rows = 0

    def read(self, session: Session, runs: Sequence[Sequence[int]]) -> VoteArrays:
        """The counted votes of ``runs``."""
        if not runs:
            return _Rows.empty().pack(runs)
        lo, hi = runs[0][0], runs[-1][1]
        rows = self._rows
        if rows is not None and rows.ids.size and rows.ids[0] <= lo:
            top = int(rows.ids[-1])
            more = _read(session, top + 1, hi) if hi > top else _Rows.empty()
            rows = rows.extend(more)
            packed = rows.pack(runs)
            if packed.size == run_length(runs):
                self._rows, self.last_read, self.last_rows = rows, "appended", more.ids.size
                return packed
        rows = _read(session, lo, hi)
        self._rows, self.last_read, self.last_rows = rows, "full", rows.ids.size
        return rows.pack(runs)


def read_vote_arrays(
    session: Session, runs: Sequence[Sequence[int]], cache: VoteCache | None = None
) -> VoteArrays:
    """The votes whose ids lie in ``runs``; through ``cache`` when given."""
    return (cache or VoteCache()).read(session, runs)


def run_length(runs: Sequence[Sequence[int]]) -> int:
    return sum(hi - lo + 1 for lo, hi in runs)
