"""`arena export`: researcher downloads written to a file or stdout."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from arena.cli.common import ExportKind, Format, choice, fail, load_settings, session


def export(
    kind: Annotated[
        ExportKind,
        typer.Argument(parser=choice(ExportKind, "KIND"), help="What to export."),
    ],
    format: Annotated[
        Format, typer.Option(parser=choice(Format, "--format"), help="File format.")
    ] = "jsonl",
    out: Annotated[Path | None, typer.Option(help="File to write (default: stdout).")] = None,
) -> None:
    """Write votes, preference pairs or leaderboard snapshots for researchers."""
    from arena.exports.service import SOURCES, encode

    if format == "parquet" and out is None and sys.stdout.isatty():
        fail("parquet is binary: give --out FILE or redirect stdout")
    source, columns = SOURCES[kind]
    try:
        with session(load_settings()) as s:
            sink: BinaryIO = out.open("wb") if out else sys.stdout.buffer
            try:
                for chunk in encode(source(s), columns, format):
                    sink.write(chunk)
            finally:
                if out:
                    sink.close()
                else:
                    sink.flush()
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
