"""Does an answer name its own model? Such a vote is kept but excluded (`identity_leak`)."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Words too common to identify anyone even when they are part of a name.
_STOP = {"the", "model", "instruct", "chat", "base", "open", "cloud", "ai", "inc", "labs"}


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
    """The first identifying term found in `text`, else None."""
    pattern = _pattern(terms)
    if pattern is None:
        return None
    match = pattern.search(text)
    return match.group(0) if match else None
