"""What a vote needs from a battle's answers, computed once when a turn's answers are stored.

A vote is kept but excluded when an answer named its own model (`identity_leak`), carries
both sides' style features and tokens summed over the turns (style control), and is counted
per prompt (`duplicate_prompt`). None of that depends on the vote, so `close_turn` computes
it when both answers of a turn are stored and keeps it on the turn, summed through that turn
(`battle_turns.vote_inputs`); the vote only reads the last turn's.

Identity leaks depend on the models' names and aliases, which verification can change later.
The inputs therefore keep the identity terms they were scanned with; a vote (or the next
turn) whose models' terms differ scans the stored answers again, as does a turn stored
before the inputs existed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass, field
from typing import Any

from arena.votes.dedup import prompt_hash
from arena.votes.identity import find_identity, identity_terms
from arena.votes.style import ZERO, StyleFeatures, style_features
from arena.votes.vocabulary import SIDES

VERSION = 1


@dataclass(frozen=True)
class Identity:
    """What names a model inside an answer: its display name, organization and aliases."""

    name: str
    organization: str
    aliases: Sequence[str] = ()

    def terms(self) -> list[str]:
        return identity_terms(self.name, self.organization, self.aliases)


@dataclass(frozen=True)
class Answer:
    """One side's answer to one turn, as stored."""

    turn: int  # the turn's index (0 for the first)
    side: str
    content: str
    completion_tokens: int | None


@dataclass
class VoteInputs:
    """Summed over the turns `0 .. turns - 1` of a battle."""

    prompt_hash: str
    turns: int = 0
    terms: dict[str, list[str]] = field(default_factory=dict)
    style: dict[str, StyleFeatures] = field(default_factory=lambda: dict.fromkeys(SIDES, ZERO))
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIDES, 0))
    # Per side, in turn order: the exclusion detail lists side A's before side B's.
    leaks: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in SIDES})

    def add(self, answers: Iterable[Answer]) -> None:
        """Add one turn's answers (both sides, scanned with `self.terms`)."""
        for answer in answers:
            side = answer.side
            self.style[side] = self.style[side] + style_features(answer.content)
            self.tokens[side] += answer.completion_tokens or 0
            hit = find_identity(answer.content, self.terms[side])
            if hit:
                self.leaks[side].append(f"side {side} named {hit!r} in turn {answer.turn + 1}")
        self.turns += 1

    def leak_detail(self) -> str | None:
        found = [text for side in SIDES for text in self.leaks[side]]
        return "; ".join(found) if found else None

    def to_json(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "prompt_hash": self.prompt_hash,
            "turns": self.turns,
            "terms": self.terms,
            "style": {s: list(astuple(f)) for s, f in self.style.items()},
            "tokens": self.tokens,
            "leaks": self.leaks,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> VoteInputs | None:
        """The stored inputs, or None when there are none (or of another version)."""
        if not data or data.get("v") != VERSION:
            return None
        return cls(
            prompt_hash=data["prompt_hash"],
            turns=int(data["turns"]),
            terms={s: list(t) for s, t in data["terms"].items()},
            style={s: StyleFeatures(*f) for s, f in data["style"].items()},
            tokens={s: int(n) for s, n in data["tokens"].items()},
            leaks={s: list(t) for s, t in data["leaks"].items()},
        )


def terms_of(models: Mapping[str, Identity]) -> dict[str, list[str]]:
    return {side: models[side].terms() for side in SIDES}


def scan(
    first_prompt: str, models: Mapping[str, Identity], answers: Iterable[Answer]
) -> VoteInputs:
    """The inputs of a whole conversation: `answers` of every turn, in any order."""
    inputs = VoteInputs(prompt_hash(first_prompt), terms=terms_of(models))
    by_turn: dict[int, list[Answer]] = {}
    for answer in answers:
        by_turn.setdefault(answer.turn, []).append(answer)
    for turn in sorted(by_turn):
        inputs.add(sorted(by_turn[turn], key=lambda a: a.side))
    return inputs
