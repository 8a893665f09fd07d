"""Endpoint fingerprints: temperature-0 answers to fixed canary prompts plus what
``/v1/models`` says, and the comparison that tells a swapped model from an unchanged one.

Comparing answers is robust rather than exact, because a real server is not bit-exact under
load (batching changes floating-point sums, and one flipped token changes the rest):

- a canary *matches* when its answer has the recorded digest, or else when the difflib
  ratio of the first :data:`SIMILARITY_TOKENS` normalised tokens is at least
  :data:`MATCH_THRESHOLD`;
- an endpoint *drifted* when a strict majority of its canaries do not match.

Open-ended canaries are used on purpose: two different models rarely agree on how to
describe a lighthouse, while a factual question ("the first five primes") would match
across models.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from serving.client import BackendError, Endpoint, complete_chat

CANARY_PROMPTS = (
    "Write two sentences about a lighthouse keeper who finds a strange bottle on the beach.",
    "Describe the taste of a lemon to someone who has never eaten one, in three sentences.",
    "Invent a name for a new planet and describe its weather in two sentences.",
)
CANARY_SYSTEM = "You are a helpful assistant."
CANARY_SEED = 1234
CANARY_MAX_TOKENS = 48
SIMILARITY_TOKENS = 48
MATCH_THRESHOLD = 0.6
LISTING_FIELDS = ("id", "owned_by", "max_model_len", "root")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _tokens(text: str, limit: int = SIMILARITY_TOKENS) -> list[str]:
    return re.findall(r"\w+|[^\w\s]", text.lower())[:limit]


def similarity(expected: str, got: str) -> float:
    """1.0 for the same text; else difflib's ratio over the first normalised tokens."""
    if expected == got:
        return 1.0
    a, b = _tokens(expected), _tokens(got)
    if a == b:
        return 1.0
    return round(difflib.SequenceMatcher(None, a, b, autojunk=False).ratio(), 3)


@dataclass(frozen=True)
class CanaryAnswer:
    prompt: str
    answer: str
    digest: str

    @classmethod
    def of(cls, prompt: str, answer: str) -> CanaryAnswer:
        return cls(prompt, answer, digest(answer))


@dataclass(frozen=True)
class Fingerprint:
    listing: dict[str, Any]
    canaries: tuple[CanaryAnswer, ...]
    seed: int | None  # None: the server refused a seed, canaries are asked without one
    max_tokens: int = CANARY_MAX_TOKENS

    def canaries_as_dicts(self) -> list[dict[str, str]]:
        return [{"prompt": c.prompt, "answer": c.answer, "digest": c.digest} for c in self.canaries]

    @classmethod
    def from_stored(
        cls,
        listing: dict[str, Any],
        canaries: Sequence[dict[str, Any]],
        seed: int | None,
        max_tokens: int,
    ) -> Fingerprint:
        answers = tuple(
            CanaryAnswer(str(c["prompt"]), str(c["answer"]), str(c["digest"])) for c in canaries
        )
        return cls(dict(listing), answers, seed, max_tokens)


@dataclass(frozen=True)
class Comparison:
    prompt: str
    expected: str
    got: str
    similarity: float
    exact: bool

    @property
    def matched(self) -> bool:
        return self.exact or self.similarity >= MATCH_THRESHOLD

    def as_dict(self, chars: int = 300) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "expected": self.expected[:chars],
            "got": self.got[:chars],
            "similarity": self.similarity,
            "matched": self.matched,
        }


@dataclass(frozen=True)
class Verdict:
    comparisons: tuple[Comparison, ...]
    listing_changes: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def mismatched(self) -> int:
        return sum(not c.matched for c in self.comparisons)

    @property
    def drifted(self) -> bool:
        """A strict majority of canaries no longer match."""
        return self.mismatched * 2 > len(self.comparisons)

    def summary(self) -> str:
        sims = ", ".join(f"{c.similarity:.2f}" for c in self.comparisons)
        return (
            f"{self.mismatched} of {len(self.comparisons)} canaries no longer match the "
            f"fingerprint (similarity {sims}; threshold {MATCH_THRESHOLD})"
        )

    def evidence(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "threshold": MATCH_THRESHOLD,
            "canaries": [c.as_dict() for c in self.comparisons],
            "listing_changes": self.listing_changes,
        }


def compare(
    fingerprint: Fingerprint, answers: Sequence[str], listing: dict[str, Any] | None = None
) -> Verdict:
    """How far ``answers`` (one per canary, in order) are from the fingerprint."""
    if len(answers) != len(fingerprint.canaries):
        raise ValueError(f"{len(answers)} answers for {len(fingerprint.canaries)} canaries")
    comparisons = tuple(
        Comparison(c.prompt, c.answer, got, similarity(c.answer, got), digest(got) == c.digest)
        for c, got in zip(fingerprint.canaries, answers, strict=True)
    )
    changes: dict[str, list[Any]] = {}
    if listing is not None:
        for key in LISTING_FIELDS:
            if fingerprint.listing.get(key) != listing.get(key):
                changes[key] = [fingerprint.listing.get(key), listing.get(key)]
    return Verdict(comparisons, changes)


def _messages(prompt: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": CANARY_SYSTEM}, {"role": "user", "content": prompt}]


async def ask_canary(
    client: httpx.AsyncClient,
    endpoint: Endpoint,
    prompt: str,
    *,
    seed: int | None,
    max_tokens: int = CANARY_MAX_TOKENS,
) -> str:
    extra = {"seed": seed} if seed is not None else None
    result = await complete_chat(
        client, endpoint, _messages(prompt), max_tokens=max_tokens, temperature=0.0, extra=extra
    )
    return result.text


async def ask_all(
    client: httpx.AsyncClient, endpoint: Endpoint, fingerprint: Fingerprint
) -> list[str]:
    """The fingerprint's canaries again, asked the way they were recorded."""
    return [
        await ask_canary(
            client, endpoint, c.prompt, seed=fingerprint.seed, max_tokens=fingerprint.max_tokens
        )
        for c in fingerprint.canaries
    ]


async def first_answer(
    client: httpx.AsyncClient, endpoint: Endpoint, prompt: str, max_tokens: int
) -> tuple[str, int | None]:
    """The first canary with a fixed seed, or without one when the server refuses seeds."""
    try:
        return await ask_canary(
            client, endpoint, prompt, seed=CANARY_SEED, max_tokens=max_tokens
        ), CANARY_SEED
    except BackendError as exc:
        if exc.kind != "http" or exc.status not in (400, 422):
            raise
    return await ask_canary(client, endpoint, prompt, seed=None, max_tokens=max_tokens), None


def listing_of(payload: Any, api_model: str) -> dict[str, Any]:
    """What ``/v1/models`` says of ``api_model``: id, owned_by, max_model_len, root."""
    data = payload.get("data") if isinstance(payload, dict) else None
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict) and item.get("id") == api_model:
            return {k: item[k] for k in LISTING_FIELDS if k in item}
    return {}


async def read_listing(
    client: httpx.AsyncClient, endpoint: Endpoint, *, request_timeout: float = 10.0
) -> dict[str, Any] | None:
    """None when ``/v1/models`` cannot be read (that is ill health, not drift)."""
    try:
        response = await client.get(
            endpoint.url("/v1/models"), headers=endpoint.headers(), timeout=request_timeout
        )
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        return listing_of(orjson.loads(response.content), endpoint.api_model)
    except orjson.JSONDecodeError:
        return None


@dataclass(frozen=True)
class Recording:
    """A new fingerprint and the second answers that show whether it is reproducible."""

    fingerprint: Fingerprint
    repeat: Verdict

    @property
    def deterministic(self) -> bool:
        return all(c.matched for c in self.repeat.comparisons)

    def detail(self) -> str:
        count = len(self.fingerprint.canaries)
        seed = "no seed" if self.fingerprint.seed is None else f"seed {self.fingerprint.seed}"
        if self.deterministic:
            exact = sum(c.exact for c in self.repeat.comparisons)
            return (
                f"{count} canaries at temperature 0 ({seed}): {exact} answered identically "
                f"twice, {count - exact} nearly so (similarity >= {MATCH_THRESHOLD})"
            )
        unstable = "; ".join(
            f"canary {i + 1} similarity {c.similarity:.2f}"
            for i, c in enumerate(self.repeat.comparisons)
            if not c.matched
        )
        return (
            "non-deterministic at temperature 0: the same canary was answered with different "
            f"text ({unstable}; threshold {MATCH_THRESHOLD})"
        )


async def record_fingerprint(
    client: httpx.AsyncClient,
    endpoint: Endpoint,
    *,
    prompts: Sequence[str] = CANARY_PROMPTS,
    max_tokens: int = CANARY_MAX_TOKENS,
) -> Recording:
    """Ask every canary twice; the first answers are the fingerprint."""
    listing = await read_listing(client, endpoint) or {}
    first, seed = await first_answer(client, endpoint, prompts[0], max_tokens)
    answers = [first]
    for prompt in prompts[1:]:
        answers.append(await ask_canary(client, endpoint, prompt, seed=seed, max_tokens=max_tokens))
    fingerprint = Fingerprint(
        listing,
        tuple(CanaryAnswer.of(p, a) for p, a in zip(prompts, answers, strict=True)),
        seed,
        max_tokens,
    )
    again = await ask_all(client, endpoint, fingerprint)
    return Recording(fingerprint, compare(fingerprint, again))
