"""The README's "where to find things" table names real files."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def where_table() -> list[tuple[str, list[str]]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("Where to find things:", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] not in ("what", "---"):
            rows.append((cells[0], re.findall(r"`([^`]+)`", cells[1])))
    return rows


def test_where_table_is_not_empty() -> None:
    rows = where_table()
    assert len(rows) >= 10
    assert all(paths for _, paths in rows)


def test_every_path_in_the_where_table_exists() -> None:
    missing = [
        (what, path)
        for what, paths in where_table()
        for path in paths
        if not (ROOT / path).exists()
    ]
    assert missing == []


def test_every_domain_is_named_in_the_architecture() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    picture = text.split("## Architecture", 1)[1].split("Where to find things:", 1)[0]
    domains = sorted(
        p.name for p in (ROOT / "arena").iterdir() if p.is_dir() and (p / "__init__.py").exists()
    )
    assert domains, "no domain packages found"
    assert [d for d in domains if d not in picture] == []
