"""Read a battles file (.jsonl, .json, .csv, .parquet) into index arrays.

Columns ``model_a, model_b, winner`` (LMSYS spelling of ``winner``), an optional
boolean ``included`` (false rows are skipped, null counts as true), an optional
``categories`` string (comma-joined tags; read only when a category is asked for), anything
else ignored. Reading
goes through pyarrow's multi-threaded readers and stays columnar until the
final integer arrays; only the error path looks at single lines, to name them.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ratings.counts import OUTCOMES, PairCounts, aggregate
from ratings.errors import RatingsInputError
from ratings.types import IntArray

__all__ = ["SUFFIXES", "Battles", "read_battles", "read_counts", "where"]

SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
REQUIRED = ("model_a", "model_b", "winner")
CATEGORIES = "categories"


@dataclass(frozen=True, eq=False)
class Battles:
    """Included battles as index arrays.

    ``rows`` holds each battle's 0-based record number in the file when some
    rows were skipped (``None``: battle ``k`` is record ``k``); ``table`` is the
    pyarrow table of the included rows when extra columns were asked for.
    """

    models: tuple[str, ...]
    a: IntArray
    b: IntArray
    outcome: IntArray
    rows: IntArray | None = None
    table: Any = None

    def counts(self) -> PairCounts:
        return aggregate(self.models, self.a, self.b, self.outcome)


def where(path: Path, row: int) -> str:
    """Human position of 0-based record ``row``: a line for text files, else a row."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        seen = -1
        with path.open("rb") as fh:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    seen += 1
                    if seen == row:
                        return f"{path.name} line {number}"
    elif suffix == ".csv":
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.reader(fh)
            start = 1
            for record, _ in enumerate(reader, start=-1):
                if record == row:
                    return f"{path.name} line {start}"
                start = reader.line_num + 1
    elif suffix == ".json":
        return f"{path.name} item {row + 1}"
    return f"{path.name} row {row + 1}"


def _jsonl_problem(path: Path) -> str | None:
    """Name the first line that pyarrow would reject, with the reason."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError as exc:
                return f"{path.name} line {number}: invalid JSON ({exc.args[0]})"
            problem = _record_problem(obj)
            if problem:
                return f"{path.name} line {number}: {problem}"
    return None


def _record_problem(obj: object) -> str | None:
    if not isinstance(obj, dict):
        return "not a JSON object"
    for key in REQUIRED:
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            return f"{key} must be a string, got {value!r}"
    included = obj.get("included")
    if included is not None and not isinstance(included, bool):
        return f"included must be true or false, got {included!r}"
    return None


def _read_jsonl(path: Path, extra: tuple[str, ...], text: tuple[str, ...]) -> Any:
    import pyarrow as pa
    import pyarrow.json as pj

    schema = pa.schema(
        [(c, pa.string()) for c in (*REQUIRED, *text)]
        + [("included", pa.bool_())]
        + [(c, pa.float64()) for c in extra]
    )
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        return pj.read_json(path, parse_options=options)
    except pa.ArrowInvalid as exc:
        raise RatingsInputError(_jsonl_problem(path) or f"{path.name}: {exc}") from None


def _read_json_array(path: Path, extra: tuple[str, ...], text: tuple[str, ...]) -> Any:
    import pyarrow as pa

    try:
        data = json.loads(path.read_bytes())
    except ValueError as exc:
        raise RatingsInputError(f"{path.name}: invalid JSON ({exc})") from None
    if not isinstance(data, list):
        raise RatingsInputError(f"{path.name}: expected a JSON array of battle objects")
    for number, obj in enumerate(data, start=1):
        problem = _record_problem(obj)
        if problem:
            raise RatingsInputError(f"{path.name} item {number}: {problem}")
    columns = {c: pa.array([o.get(c) for o in data], type=pa.string()) for c in REQUIRED}
    for c in text:
        try:
            columns[c] = pa.array([o.get(c) for o in data], type=pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raise RatingsInputError(f"{path.name}: column {c!r} must hold strings") from None
    columns["included"] = pa.array([o.get("included") for o in data], type=pa.bool_())
    for c in extra:
        try:
            columns[c] = pa.array([o.get(c) for o in data], type=pa.float64())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raise RatingsInputError(f"{path.name}: column {c!r} must be numeric") from None
    return pa.table(columns)


def _read_csv(path: Path, extra: tuple[str, ...], text: tuple[str, ...]) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pc_csv

    types = {c: pa.string() for c in (*REQUIRED, *text)}
    types["included"] = pa.bool_()
    types.update((c, pa.float64()) for c in extra)
    convert = pc_csv.ConvertOptions(
        column_types=types,
        include_columns=[*REQUIRED, "included", *extra, *text],
        include_missing_columns=True,
        strings_can_be_null=False,
    )
    try:
        return pc_csv.read_csv(path, convert_options=convert)
    except pa.ArrowInvalid as exc:
        raise RatingsInputError(f"{path.name}: {exc}".splitlines()[0]) from None


def _read_parquet(path: Path, extra: tuple[str, ...], text: tuple[str, ...]) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        names = set(pq.read_schema(path).names)
        wanted = (*REQUIRED, "included", *extra, *text)
        table = pq.read_table(path, columns=[c for c in wanted if c in names])
    except (pa.ArrowInvalid, OSError) as exc:
        raise RatingsInputError(f"{path.name}: not a readable Parquet file ({exc})") from None
    for c in (*REQUIRED, *text):
        if c not in names:
            if c in text:
                table = table.append_column(c, pa.nulls(table.num_rows, pa.string()))
                continue
            raise RatingsInputError(f"{path.name}: missing column {c!r}")
        if not pa.types.is_string(table[c].type):
            try:
                table = table.set_column(
                    table.schema.get_field_index(c), c, table[c].cast(pa.string())
                )
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise RatingsInputError(
                    f"{path.name}: column {c!r} must hold strings, not {table[c].type}"
                ) from None
    if "included" not in names:
        table = table.append_column("included", pa.nulls(table.num_rows, pa.bool_()))
    elif not pa.types.is_boolean(table["included"].type):
        raise RatingsInputError(f"{path.name}: column 'included' must be boolean")
    for c in extra:
        if c not in names:
            table = table.append_column(c, pa.nulls(table.num_rows, pa.float64()))
        else:
            try:
                table = table.set_column(
                    table.schema.get_field_index(c), c, table[c].cast(pa.float64())
                )
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise RatingsInputError(f"{path.name}: column {c!r} must be numeric") from None
    return table


def _read_table(path: Path, extra: tuple[str, ...] = (), text: tuple[str, ...] = ()) -> Any:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise RatingsInputError(
            f"{path.name}: unsupported file type {suffix or '(none)'!r}; use one of "
            + ", ".join(SUFFIXES)
        )
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise RatingsInputError(f"{path}: {exc.strerror or exc}") from None
    if size == 0:
        raise RatingsInputError(f"{path.name}: empty file")
    readers = {
        ".jsonl": _read_jsonl,
        ".json": _read_json_array,
        ".csv": _read_csv,
        ".parquet": _read_parquet,
    }
    return readers[suffix](path, extra, text)


def _first(mask: Any) -> int:
    """Index of the first true value of a pyarrow boolean array (nulls as false)."""
    import pyarrow.compute as pc

    return int(pc.index(pc.fill_null(mask, False), True).as_py())


def _in_category(column: Any, category: str) -> Any:
    """Rows whose comma-joined tags hold ``category`` exactly (null: no tags)."""
    import pyarrow.compute as pc

    padded = pc.binary_join_element_wise(",", pc.fill_null(column, ""), ",", "")
    return pc.match_substring(padded, f",{category},")


def read_battles(
    path: Path, *, extra_columns: tuple[str, ...] = (), category: str | None = None
) -> Battles:
    """Read and validate a battles file; raises :class:`RatingsInputError`.

    ``extra_columns`` are read as float64 (null where absent) and kept in
    ``Battles.table`` for the included rows. ``category``: only rows whose
    ``categories`` column holds that tag (comma-split, exact match).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if category is not None and (not category or "," in category):
        raise RatingsInputError(f"category must be one tag without commas, got {category!r}")
    text = (CATEGORIES,) if category is not None else ()
    table = _read_table(path, extra_columns, text)
    if table.num_rows == 0:
        raise RatingsInputError(f"{path.name}: no battles")
    rows = None
    included = table["included"]
    keep = pc.fill_null(included, True) if included.null_count < table.num_rows else None
    if category is not None:
        tags = table[CATEGORIES]
        if tags.null_count == table.num_rows:
            raise RatingsInputError(f"{path.name}: no {CATEGORIES!r} column (needed by --category)")
        wanted = _in_category(tags, category)
        keep = wanted if keep is None else pc.and_(keep, wanted)
    if keep is not None:
        rows = np.flatnonzero(keep.to_numpy(zero_copy_only=False))
        table = table.filter(keep)
        if table.num_rows == 0:
            if category is not None:
                raise RatingsInputError(f"{path.name}: no included battle in category {category!r}")
            raise RatingsInputError(f"{path.name}: every battle has included = false")

    def place(k: int) -> str:
        return where(path, int(rows[k]) if rows is not None else k)

    for c in REQUIRED:
        column = table[c]
        if column.null_count:
            if column.null_count == table.num_rows and rows is None:
                raise RatingsInputError(f"{path.name}: missing column {c!r}")
            raise RatingsInputError(f"{place(_first(pc.is_null(column)))}: missing {c}")
    winner = pc.index_in(table["winner"], value_set=pa.array(OUTCOMES))
    if winner.null_count:
        k = _first(pc.is_null(winner))
        raise RatingsInputError(
            f"{place(k)}: unknown winner {table['winner'][k].as_py()!r} "
            "(expected model_a, model_b, tie or 'tie (bothbad)')"
        )
    a_col, b_col = table["model_a"], table["model_b"]
    names = pc.unique(pa.chunked_array(a_col.chunks + b_col.chunks)).to_pylist()
    models = tuple(sorted(names))
    value_set = pa.array(models, type=pa.string())
    a = pc.index_in(a_col, value_set=value_set).to_numpy().astype(np.int64)
    b = pc.index_in(b_col, value_set=value_set).to_numpy().astype(np.int64)
    same = a == b
    if same.any():
        k = int(np.argmax(same))
        raise RatingsInputError(f"{place(k)}: model {models[a[k]]!r} battles itself")
    outcome = winner.to_numpy().astype(np.int64)
    return Battles(
        models=models,
        a=a,
        b=b,
        outcome=outcome,
        rows=rows,
        table=table if extra_columns else None,
    )


def read_counts(path: Path) -> PairCounts:
    """Read a battles file straight to pair counts."""
    return read_battles(path).counts()
