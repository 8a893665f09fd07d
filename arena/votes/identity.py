"""Does an answer name its own model? Such a vote is kept but excluded (`identity_leak`).

Only prose counts: code blocks, inline code, HTML tags with their attributes, and URLs are
removed before matching, so ``<meta charset="utf-8">`` in an HTML answer is not the
organization Meta and ``import qwen_utils`` is not Qwen, while "I am Llama, made by Meta"
still is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Words too common to identify anyone even when they are part of a name.
_STOP = {"the", "model", "instruct", "chat", "base", "open", "cloud", "ai", "inc", "labs"}

# Fenced blocks (``` or ~~~, closed or cut off by max_tokens), then inline code.
_FENCED = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]*\1[ \t]*$|\Z)", re.M | re.S)
_INLINE_CODE = re.compile(r"(`+)(?!`)[^\n]+?(?<!`)\1(?!`)")
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
# A tag: `<` right before a name (so "a < b" stays), attributes up to the closing `>`.
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>|<![A-Za-z][^<>]*>")
_URL = re.compile(r"\b(?:https?://|ftp://|www\.)[^\s<>()\"']+", re.I)


def prose(text: str) -> str:
    """``text`` without code, markup and URLs (each replaced by a space)."""
    for pattern in (_FENCED, _INLINE_CODE, _HTML_COMMENT, _HTML_TAG, _URL):
        text = pattern.sub(" ", text)
    return text


def identity_terms(name: str, organization: str, aliases: Iterable[str]) -> list[str]:
    """Strings that give a model away: its name, organization, aliases, and the leading
    word of its name (`Qwen2.5-Coder-0.5B` → `Qwen`, `SmolLM2-135M` → `SmolLM`)."""
    terms = {name, organization, *aliases}
    lead = re.match(r"[A-Za-z]+", name)
    if lead:
        terms.add(lead.group(0))
    return sorted(
        {t.strip() for t in terms if len(t.strip()) >= 3 and t.strip().lower() not in _STOP},
        key=len,
        reverse=True,
    )


def _pattern(terms: list[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    alternatives = "|".join(re.escape(t) for t in terms)
    return re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z])", re.IGNORECASE)


def find_identity(text: str, terms: list[str]) -> str | None:
    """The first identifying term in the prose of `text` (see :func:`prose`), else None."""
    pattern = _pattern(terms)
    if pattern is None:
        return None
    match = pattern.search(prose(text))
    return match.group(0) if match else None
