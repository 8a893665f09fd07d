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

import numpy as np
from sqlalchemy import case, select
from sqlalchemy.orm import Session

from arena.categories import split_tags
from arena.votes.tables import Vote
from ratings.counts import PairCounts, aggregate
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

    def subset(self, keep: BoolArray) -> VoteArrays:
        return VoteArrays(
            self.ids[keep],
            self.a[keep],
            self.b[keep],
            self.outcome[keep],
            self.features_a[keep],
            self.features_b[keep],
            self.tag_code[keep],
            self.tag_sets,
        )

    def indexed(self, names: dict[int, str]) -> tuple[tuple[str, ...], IntArray, IntArray]:
        """Model names of the votes (only models that have one) and indices into them."""
        ids, inverse = np.unique(np.concatenate([self.a, self.b]), return_inverse=True)
        n = self.size
        return tuple(names[int(i)] for i in ids), inverse[:n], inverse[n:]

    def counts(self, names: dict[int, str]) -> PairCounts:
        models, a, b = self.indexed(names)
        return aggregate(models, a, b, self.outcome)


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


def _pack(
    ids: IntArray,
    a: IntArray,
    b: IntArray,
    outcome: IntArray,
    feats: FloatArray,
    tags: Sequence[str],
    runs: Sequence[Sequence[int]],
) -> VoteArrays:
    keep = _in_runs(ids, runs)
    strings, code = np.unique(np.asarray(tags, dtype=object)[keep].astype(str), return_inverse=True)
    f = feats[keep]
    return VoteArrays(
        ids[keep],
        a[keep],
        b[keep],
        outcome[keep],
        np.ascontiguousarray(f[:, 0::2]),
        np.ascontiguousarray(f[:, 1::2]),
        code.astype(np.int64).reshape(-1),
        tuple(frozenset(split_tags(s)) for s in strings),
    )


def _copy_postgres(session: Session, lo: int, hi: int, runs: Sequence[Sequence[int]]) -> VoteArrays:
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
    names = ["id", "a", "b", "outcome", *feats, "categories"]
    types = {n: pa.int64() for n in names[:-1]} | {"categories": pa.string()}
    table = pacsv.read_csv(
        io.BytesIO(buf.getvalue()),
        read_options=pacsv.ReadOptions(column_names=names),
        convert_options=pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    )

    def col(name: str) -> IntArray:
        return np.asarray(table[name].to_numpy(), dtype=np.int64)

    return _pack(
        col("id"),
        col("a"),
        col("b"),
        col("outcome"),
        np.stack([col(n) for n in feats], axis=1).astype(np.float64),
        table["categories"].to_pylist(),
        runs,
    )


def _select(session: Session, lo: int, hi: int, runs: Sequence[Sequence[int]]) -> VoteArrays:
    winner = case(*((Vote.winner == w, c) for w, c in _WINNER_CODE.items()), else_=3)
    feats = [getattr(Vote, n) for n in _columns()]
    stmt = (
        select(Vote.id, Vote.model_a_id, Vote.model_b_id, winner, *feats, Vote.categories)
        .where(Vote.id.between(lo, hi))
        .order_by(Vote.id)
    )
    rows = session.connection().execute(stmt).all()
    width = 4 + len(feats)
    numbers = np.array([r[:width] for r in rows], dtype=np.int64).reshape(len(rows), width)
    return _pack(
        numbers[:, 0],
        numbers[:, 1],
        numbers[:, 2],
        numbers[:, 3],
        numbers[:, 4:].astype(np.float64),
        [r[width] for r in rows],
        runs,
    )


def read_vote_arrays(session: Session, runs: Sequence[Sequence[int]]) -> VoteArrays:
    """The votes whose ids lie in ``runs``."""
    if not runs:
        none = np.zeros(0, np.int64)
        return _pack(none, none, none, none, np.zeros((0, 2 * len(STYLE_FEATURES))), [], runs)
    lo, hi = runs[0][0], runs[-1][1]
    if session.get_bind().dialect.name == "postgresql":
        return _copy_postgres(session, lo, hi, runs)
    return _select(session, lo, hi, runs)
