"""The classifier interface: a conversation in, a set of tags out, under a name and a version.

A classifier is a `Classifier(name, version, tag)` where `tag(conversation)` returns tags
(`[a-z0-9_]+`, optionally `:` and a value, as in `lang:de`). The arena runs a tuple of them
(`arena.categories.DEFAULT`) through `categorize`, which returns the sorted union; the vote
stores it comma-joined (`join_tags`), and `categories_version` names the tuple (e.g.
"rules-1") for a snapshot's `params`. Change what a classifier returns for the same input and
you bump its version: old votes keep the tags they were cast with.

A classifier served by a model joins the same tuple without any caller changing: wrap the
coroutine that asks it with `from_async(name, version, fn)`. `categorize` is called from a
worker thread (turn close runs in `anyio.to_thread`, like every database unit of work), and
the wrapper hands the coroutine to the event loop with `anyio.from_thread.run`, so it shares
the app's HTTP client and loop while the calling thread waits; outside any loop (a CLI, a
backfill script) it runs the coroutine in a loop of its own. Such a coroutine should bound
its own time (a timeout) and return no tags on failure rather than raise, since the turn
waits for it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import anyio
import anyio.from_thread

_TAG = re.compile(r"[a-z0-9_]+(?::[a-z0-9_-]+)?")


@dataclass(frozen=True)
class Conversation:
    """The user messages of every turn, in order, and each turn's two answers (A, B) where
    the caller has them (a classifier must not need them to tag the prompt)."""

    prompts: tuple[str, ...]
    answers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_sides(
        cls,
        messages_a: Sequence[dict[str, str]],
        messages_b: Sequence[dict[str, str]],
        last_a: str,
        last_b: str,
    ) -> Conversation:
        """From the chat messages each side was sent (system, user and its own assistant
        turns) and each side's answer to the last user message."""
        prompts = tuple(m["content"] for m in messages_a if m["role"] == "user")
        earlier_a = [m["content"] for m in messages_a if m["role"] == "assistant"]
        earlier_b = [m["content"] for m in messages_b if m["role"] == "assistant"]
        answers = tuple(zip([*earlier_a, last_a], [*earlier_b, last_b], strict=True))
        return cls(prompts, answers)


Tagger = Callable[[Conversation], Iterable[str]]


@dataclass(frozen=True)
class Classifier:
    name: str
    version: str
    tag: Tagger


def categorize(conversation: Conversation, classifiers: Sequence[Classifier]) -> tuple[str, ...]:
    """Sorted union of every classifier's tags; a malformed tag is a bug, so it raises."""
    tags: set[str] = set()
    for classifier in classifiers:
        for tag in classifier.tag(conversation):
            if not _TAG.fullmatch(tag):
                raise ValueError(f"classifier {classifier.name!r} returned a bad tag {tag!r}")
            tags.add(tag)
    return tuple(sorted(tags))


def categories_version(classifiers: Sequence[Classifier]) -> str:
    """E.g. "rules-1", or "rules-1+topics-3" with a second classifier."""
    return "+".join(f"{c.name}-{c.version}" for c in classifiers)


def join_tags(tags: Iterable[str]) -> str:
    return ",".join(sorted(set(tags)))


def split_tags(text: str | None) -> tuple[str, ...]:
    return tuple(t for t in (text or "").split(",") if t)


def from_async(
    name: str, version: str, fn: Callable[[Conversation], Awaitable[Iterable[str]]]
) -> Classifier:
    """A classifier from a coroutine function (a model behind HTTP, say); see the module doc."""

    async def call(conversation: Conversation) -> list[str]:
        return list(await fn(conversation))

    def tag(conversation: Conversation) -> list[str]:
        try:
            return anyio.from_thread.run(call, conversation)
        except anyio.NoEventLoopError:
            return anyio.run(call, conversation)

    return Classifier(name, version, tag)
