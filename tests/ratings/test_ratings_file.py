"""Reading battles files and the fit_file entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ratings.battles_file import read_battles
from ratings.errors import RatingsInputError
from ratings.fit import fit_file

ROWS = [
    {"model_a": "alpha", "model_b": "beta", "winner": "model_a", "judge": "x"},
    {"model_a": "beta", "model_b": "alpha", "winner": "model_a"},
    {"model_a": "alpha", "model_b": "gamma", "winner": "tie", "extra": {"k": [1]}},
    {"model_a": "gamma", "model_b": "beta", "winner": "tie (bothbad)"},
    {"model_a": "gamma", "model_b": "alpha", "winner": "model_b"},
    {"model_a": "beta", "model_b": "gamma", "winner": "model_b"},
]


def write(path: Path, rows: list[dict[str, object]]) -> Path:
    suffix = path.suffix
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        cols = ["model_a", "model_b", "winner"] + (["included"] if "included" in rows[0] else [])
        table = pa.table({c: [r.get(c) for r in rows] for c in cols})
        if suffix == ".parquet":
            pq.write_table(table, path)
        else:
            lines = [",".join(cols)] + [",".join(str(r.get(c)) for c in cols) for r in rows]
            path.write_text("\n".join(lines) + "\n")
    return path


def fit(path: Path, **kw: object) -> list[dict[str, object]]:
    args: dict[str, object] = {
        "anchor": None,
        "ci": "sandwich",
        "rounds": 50,
        "seed": 0,
        "style": False,
    }
    args.update(kw)
    return fit_file(path, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_all_formats_give_the_same_board(tmp_path: Path, suffix: str) -> None:
    rows = fit(write(tmp_path / f"battles{suffix}", ROWS))
    reference = fit(write(tmp_path / "ref.jsonl", ROWS))
    assert rows == reference
    assert {r["model"] for r in rows} == {"alpha", "beta", "gamma"}
    assert sum(r["battles"] for r in rows) == 2 * len(ROWS)  # type: ignore[misc]


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_included_false_rows_are_skipped(tmp_path: Path, suffix: str) -> None:
    junk = {"model_a": "alpha", "model_b": "alpha", "winner": "nonsense", "included": False}
    rows = [dict(r, included=True) for r in ROWS] + [junk]
    assert fit(write(tmp_path / f"b{suffix}", rows)) == fit(write(tmp_path / "r.jsonl", ROWS))


def test_jsonl_error_names_the_line_despite_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "battles.jsonl"
    text = "".join(json.dumps(r) + "\n" for r in ROWS[:2]) + "\n"
    text += json.dumps({"model_a": "a", "model_b": "b", "winner": "foo"}) + "\n"
    path.write_text(text)
    with pytest.raises(RatingsInputError, match=r"^battles.jsonl line 4: unknown winner 'foo'"):
        fit(path)


def test_csv_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "battles.csv"
    path.write_text('model_a,model_b,winner\na,b,model_a\n"multi\nline",b,tie\nc,c,tie\n')
    with pytest.raises(RatingsInputError, match=r"^battles.csv line 5: model 'c' battles itself"):
        fit(path)


def test_parquet_error_names_the_row(tmp_path: Path) -> None:
    rows = [*ROWS, {"model_a": "a", "model_b": "b", "winner": "A"}]
    with pytest.raises(RatingsInputError, match=r"^b.parquet row 7: unknown winner 'A'"):
        fit(write(tmp_path / "b.parquet", rows))


def test_self_battle_after_skipped_rows_names_the_file_line(tmp_path: Path) -> None:
    rows = [dict(r, included=True) for r in ROWS]
    rows.insert(1, dict(ROWS[0], included=False))
    rows.append({"model_a": "z", "model_b": "z", "winner": "tie", "included": True})
    with pytest.raises(RatingsInputError, match=r"^b.jsonl line 8: model 'z' battles itself"):
        fit(write(tmp_path / "b.jsonl", rows))


GOOD = '{"model_a": "a", "model_b": "b", "winner": "tie"}\n'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", r"^b.jsonl: empty file$"),
        ('{"model_a": "a", "winner": "tie"}\n', r"^b.jsonl: missing column 'model_b'$"),
        (
            GOOD + '{"model_a": "a", "winner": "tie"}\n',
            r"^b.jsonl line 2: missing model_b$",
        ),
        (
            GOOD + '{"model_a": 1',
            r"line 2: invalid JSON",
        ),
        (
            '{"model_a": "a", "model_b": "b", "winner": "tie", "included": "yes"}\n',
            r"^b.jsonl line 1: included must be true or false, got 'yes'$",
        ),
        ('{"model_a": "a", "model_b": 7, "winner": "tie"}\n', r"line 1: model_b must be a string"),
        (
            '{"model_a": "a", "model_b": "b", "winner": "tie", "included": false}\n',
            r"^b.jsonl: every battle has included = false$",
        ),
    ],
)
def test_jsonl_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text(content)
    with pytest.raises(RatingsInputError, match=message):
        fit(path)


def test_other_file_errors(tmp_path: Path) -> None:
    with pytest.raises(RatingsInputError, match=r"unsupported file type '\.txt'"):
        fit(tmp_path / "b.txt")
    with pytest.raises(RatingsInputError, match="No such file"):
        fit(tmp_path / "missing.jsonl")
    header_only = tmp_path / "h.csv"
    header_only.write_text("model_a,model_b,winner\n")
    with pytest.raises(RatingsInputError, match=r"^h.csv: no battles$"):
        fit(header_only)
    no_winner = tmp_path / "w.csv"
    no_winner.write_text("model_a,model_b\na,b\n")
    with pytest.raises(RatingsInputError, match=r"^w.csv: missing column 'winner'$"):
        fit(no_winner)
    array = tmp_path / "a.json"
    array.write_text('{"model_a": "a"}')
    with pytest.raises(RatingsInputError, match="expected a JSON array"):
        fit(array)
    bad_item = tmp_path / "i.json"
    bad_item.write_text('[{"model_a": "a", "model_b": "b", "winner": "tie"}, 3]')
    with pytest.raises(RatingsInputError, match=r"^i.json item 2: not a JSON object$"):
        fit(bad_item)
    pq.write_table(pa.table({"model_a": ["a"], "winner": ["tie"]}), tmp_path / "p.parquet")
    with pytest.raises(RatingsInputError, match=r"^p.parquet: missing column 'model_b'$"):
        fit(tmp_path / "p.parquet")


def test_error_messages_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("model_a,model_b,winner\na,b,tie,extra\n")
    with pytest.raises(RatingsInputError) as err:
        fit(path)
    assert "\n" not in str(err.value)


def test_disconnected_file_is_an_input_error(tmp_path: Path) -> None:
    rows = [
        {"model_a": "a", "model_b": "b", "winner": "tie"},
        {"model_a": "c", "model_b": "d", "winner": "tie"},
    ]
    with pytest.raises(
        RatingsInputError, match=r"disconnected into 2 components: \{a, b\}; \{c, d\}"
    ):
        fit(write(tmp_path / "b.jsonl", rows))


def test_reader_models_are_sorted(tmp_path: Path) -> None:
    battles = read_battles(write(tmp_path / "b.jsonl", ROWS))
    assert battles.models == ("alpha", "beta", "gamma")
    assert battles.rows is None
    assert list(battles.outcome) == [0, 0, 2, 3, 1, 1]


def test_anchor_and_bootstrap_through_fit_file(tmp_path: Path) -> None:
    path = write(tmp_path / "b.jsonl", ROWS * 5)
    rows = fit(path, anchor=("beta", 1500.0), ci="bootstrap", rounds=40, seed=3)
    by_model = {r["model"]: r for r in rows}
    assert by_model["beta"]["rating"] == pytest.approx(1500.0)
    assert rows == fit(path, anchor=("beta", 1500.0), ci="bootstrap", rounds=40, seed=3)
    with pytest.raises(RatingsInputError, match="anchor model 'nobody' has no battles"):
        fit(path, anchor=("nobody", 1000.0))
