"""`arena snapshots verify`: is this file a snapshot's votes download, refitting to its rows?"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from arena.cli.common import fail, load_settings, session

app = typer.Typer(no_args_is_help=True, help="Leaderboard snapshots.")

# Refit numbers agree to this (the contract's 1e-6); ranks and battle counts exactly.
TOLERANCE = 1e-6
FLOATS = ("rating", "ci_low", "ci_high")
INTS = ("rank", "rank_ub", "battles")


@app.command("verify")
def verify(
    snapshot_id: Annotated[int, typer.Argument(metavar="ID", help="Snapshot id.")],
    path: Annotated[
        Path, typer.Argument(metavar="FILE", help="The snapshot's votes download (any format).")
    ],
) -> None:
    """Check a snapshot's votes download: its sha256, and a refit with the fit_args.

    Exit 0 only if everything agrees; the sha256 covers the jsonl download only."""
    sha256, fit_args, expected = _snapshot(snapshot_id)
    if not path.is_file():
        fail(f"no such file: {path}")
    problems: list[str] = []
    if path.suffix.lower() == ".jsonl":
        digest = _file_sha256(path)
        if digest != sha256:
            problems.append(f"sha256: file {digest}, snapshot {sha256}")
        digest_note = f"sha256 {sha256} matches"
    else:
        digest_note = "sha256 not checked (it covers the jsonl download only)"
    got = {str(r["model"]): r for r in refit(path, fit_args)}
    problems += compare(expected, got)
    where = f"{path} and snapshot {snapshot_id}"
    if problems:
        typer.echo(f"error: {where} do not match:", err=True)
        for line in problems:
            typer.echo(f"  {line}", err=True)
        raise typer.Exit(1)
    args = " ".join(shlex.quote(a) for a in fit_args) or "no extra arguments"
    typer.echo(f"{where} match: {digest_note}; {len(expected)} rows refit with {args}")


def _snapshot(snapshot_id: int) -> tuple[str, list[str], dict[str, dict[str, Any]]]:
    from sqlalchemy import select

    from arena.leaderboard.service import row_numbers
    from arena.leaderboard.tables import LeaderboardSnapshot, SnapshotRow

    with session(load_settings()) as s:
        snap = s.get(LeaderboardSnapshot, snapshot_id)
        if snap is None:
            fail(f"no snapshot {snapshot_id}")
        if snap.vote_set_id is None:
            fail(f"snapshot {snapshot_id} predates recorded vote sets; it cannot be verified")
        rows = s.scalars(select(SnapshotRow).where(SnapshotRow.snapshot_id == snapshot_id))
        expected = {r.model: row_numbers(r) for r in rows}
        return snap.sha256, list(snap.fit_args), expected


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def refit(path: Path, fit_args: list[str]) -> list[dict[str, Any]]:
    """The rows of `arena ratings fit FILE --json *fit_args`, run in this process through
    the same command (so its options parse exactly as a researcher's would)."""
    import click

    from arena.cli.ratings import app as ratings_app

    command = typer.main.get_command(ratings_app)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            command.main(
                args=["fit", str(path), "--json", *fit_args],
                prog_name="arena ratings",
                standalone_mode=False,
            )
    except click.ClickException as exc:
        fail(f"the snapshot's fit_args {fit_args} were refused: {exc.format_message()}")
    rows: list[dict[str, Any]] = json.loads(out.getvalue())
    return rows


def compare(expected: dict[str, dict[str, Any]], got: dict[str, dict[str, Any]]) -> list[str]:
    """One line per difference: a model on one side only, or a field that disagrees."""
    lines = []
    for model in sorted(expected.keys() | got.keys()):
        if model not in got:
            lines.append(f"model {model!r}: in the snapshot, not in the refit")
            continue
        if model not in expected:
            lines.append(f"model {model!r}: in the refit, not in the snapshot")
            continue
        want, have = expected[model], got[model]
        for key in FLOATS + INTS:
            a, b = want[key], have[key]
            same = (
                a == b
                if key in INTS or a is None or b is None
                else abs(float(a) - float(b)) <= TOLERANCE
            )
            if not same:
                lines.append(f"model {model!r}: {key} snapshot {a!r}, refit {b!r}")
    return lines
