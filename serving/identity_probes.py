"""Identity probes: ask an endpoint who it is and who made it, and pull the names out.

The names an answer gives ("I am Qwen, created by Alibaba Cloud" → ``Qwen``,
``Alibaba Cloud``) become the model's identity aliases, so a battle answer that names the
model gives its vote away. Extraction is deliberately narrow: a capitalised name right
after a self-introduction ("I am", "I'm", "my name is", "called") or an authorship phrase
("created/developed/made/trained/built by"); generic words ("an AI assistant", "a large
language model") are dropped.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from serving.client import Endpoint, complete_chat

# No system message on the first two: chat templates then inject their own identity
# ("You are Qwen, created by Alibaba Cloud"), which is exactly what a battle must not leak.
IDENTITY_PROMPTS: tuple[tuple[dict[str, str], ...], ...] = (
    ({"role": "user", "content": "Who are you? Who made you? Answer in one sentence."},),
    ({"role": "user", "content": "What is your name, and which company created you?"},),
    (
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Introduce yourself: your model name and who trained you."},
    ),
)
IDENTITY_MAX_TOKENS = 48
MAX_NAMES = 12

# One name token: a capital, then letters/digits, joined by dots or dashes (Qwen2.5-Coder).
_WORD = r"[A-Z][A-Za-z0-9]*(?:[.\-][A-Za-z0-9]+)*"
_NAME = rf"[\"'\u201c\u2018]?(?P<name>{_WORD}(?:[ \t]+{_WORD}){{0,3}})"
_ARTICLE = r"(?:(?:an?|the)\s+)?"
_PATTERNS = (
    re.compile(rf"(?i:\b(?:i\s+am|i'm|i\u2019m|my\s+name\s+is|call\s+me))\s+{_ARTICLE}{_NAME}"),
    re.compile(rf"(?i:\b(?:called|named|known\s+as))\s+{_ARTICLE}{_NAME}"),
    re.compile(
        rf"(?i:\b(?:created|developed|made|trained|built|designed|produced|released)\s+by)"
        rf"\s+{_ARTICLE}{_NAME}"
    ),
    # "... by a team of researchers at Alibaba Group"
    re.compile(
        rf"(?i:\b(?:team|researchers|engineers|developers|scientists)\s+(?:at|from|of))"
        rf"\s+{_ARTICLE}{_NAME}"
    ),
)

# Words that describe any assistant; a name made only of these identifies nobody, and they
# are trimmed from the ends of longer ones ("Qwen Assistant" → "Qwen").
# fmt: off
GENERIC = frozenset((
    "a", "an", "the", "i", "me", "my", "you", "it", "this", "that", "here", "there", "hello",
    "hi", "yes", "no", "not", "just", "sorry", "ai", "assistant", "assistants", "artificial",
    "intelligence", "language", "languages", "model", "models", "large", "llm", "llms",
    "helpful", "chatbot", "bot", "virtual", "computer", "program", "software", "system", "user",
    "human", "team", "company", "researchers", "engineers", "developers", "group",
    "organization", "organisation", "open", "source", "unknown", "independent", "digital",
    "conversational", "smart", "friendly",
))
# fmt: on


def _trimmed(name: str) -> str | None:
    words = name.split()
    while words and words[0].lower() in GENERIC:
        words.pop(0)
    while words and words[-1].lower() in GENERIC:
        words.pop()
    text = " ".join(words)
    return text if 2 <= len(text) <= 64 else None


def extract_names(text: str) -> list[str]:
    """Names the answer gives for itself or its makers, in order, without duplicates."""
    found: dict[str, str] = {}
    for pattern in _PATTERNS:
        for match in pattern.finditer(text):
            name = _trimmed(match.group("name"))
            if name is not None:
                found.setdefault(name.lower(), name)
    ordered = sorted(found.values(), key=text.find)
    return ordered[:MAX_NAMES]


@dataclass(frozen=True)
class IdentityAnswer:
    prompt: str
    answer: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class IdentityReport:
    answers: tuple[IdentityAnswer, ...]
    ms: float

    @property
    def names(self) -> list[str]:
        seen: dict[str, str] = {}
        for answer in self.answers:
            for name in answer.names:
                seen.setdefault(name.lower(), name)
        return list(seen.values())[:MAX_NAMES]

    def as_dict(self) -> dict[str, Any]:
        return {
            "names": self.names,
            "answers": [
                {"prompt": a.prompt, "answer": a.answer, "names": list(a.names)}
                for a in self.answers
            ],
        }

    def detail(self) -> str:
        names = ", ".join(repr(n) for n in self.names) or "none"
        quoted = " | ".join(repr(a.answer[:120]) for a in self.answers)
        return f"names: {names}; answers: {quoted}"[:900]


async def ask_identity(
    client: httpx.AsyncClient, endpoint: Endpoint, *, max_tokens: int = IDENTITY_MAX_TOKENS
) -> IdentityReport:
    """Every identity prompt at temperature 0; errors propagate (BackendError)."""
    started = time.monotonic()
    answers = []
    for messages in IDENTITY_PROMPTS:
        result = await complete_chat(
            client, endpoint, messages, max_tokens=max_tokens, temperature=0.0
        )
        prompt = messages[-1]["content"]
        answers.append(IdentityAnswer(prompt, result.text, tuple(extract_names(result.text))))
    return IdentityReport(tuple(answers), round((time.monotonic() - started) * 1000, 1))
