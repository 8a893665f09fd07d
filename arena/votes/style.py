"""Style features of an answer, the covariates of style control (as arena-rank counts them)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import astuple, dataclass, fields

_HEADER = re.compile(r"^#{1,6}\s", re.MULTILINE)
_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
_FENCE = re.compile(r"```.*?```", re.DOTALL)


@dataclass(frozen=True)
class StyleFeatures:
    chars: int
    headers: int
    lists: int
    bold: int

    def __add__(self, other: StyleFeatures) -> StyleFeatures:
        return StyleFeatures(
            self.chars + other.chars,
            self.headers + other.headers,
            self.lists + other.lists,
            self.bold + other.bold,
        )


ZERO = StyleFeatures(0, 0, 0, 0)


def style_features(text: str) -> StyleFeatures:
    # Markdown inside code blocks is code, not style.
    prose = _FENCE.sub("", text)
    return StyleFeatures(
        chars=len(text),
        headers=len(_HEADER.findall(prose)),
        lists=len(_LIST.findall(prose)),
        bold=len(_BOLD.findall(prose)),
    )


def style_columns(style: Mapping[str, StyleFeatures], tokens: Mapping[str, int]) -> dict[str, int]:
    """Per-side features and tokens as the vote's columns: side A → `a_chars`, `a_tokens`, ..."""
    columns: dict[str, int] = {}
    names = [f.name for f in fields(StyleFeatures)]
    for side, features in style.items():
        prefix = side.lower()
        columns.update(zip((f"{prefix}_{n}" for n in names), astuple(features), strict=True))
        columns[f"{prefix}_tokens"] = tokens[side]
    return columns
