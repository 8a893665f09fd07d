"""Categories of a battle, from its conversation: the classifiers the arena runs.

`categorize(conversation)` gives the sorted tags of a conversation with the arena's
classifiers (`DEFAULT`: the built-in rules of `arena.categories.rules`), `categories_version()`
names them for a snapshot's `params`. The interface (and how a model-served classifier joins
without callers changing) is in `arena.categories.classify`.
"""

from __future__ import annotations

from collections.abc import Sequence

from arena.categories import classify, rules
from arena.categories.classify import (
    Classifier,
    Conversation,
    from_async,
    join_tags,
    split_tags,
)

__all__ = [
    "DEFAULT",
    "RULES",
    "RULES_VERSION",
    "Classifier",
    "Conversation",
    "categories_version",
    "categorize",
    "from_async",
    "join_tags",
    "split_tags",
]

RULES_VERSION = "1"
RULES = Classifier("rules", RULES_VERSION, rules.tag)
DEFAULT: tuple[Classifier, ...] = (RULES,)


def categorize(
    conversation: Conversation, classifiers: Sequence[Classifier] = DEFAULT
) -> tuple[str, ...]:
    return classify.categorize(conversation, classifiers)


def categories_version(classifiers: Sequence[Classifier] = DEFAULT) -> str:
    return classify.categories_version(classifiers)
