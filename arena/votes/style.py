"""Style features of an answer, the covariates of style control (as arena-rank counts them)."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
