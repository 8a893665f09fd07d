"""Canary comparison benchmark -> benchmarks/results/canaries.json.

    .venv/bin/python -m benchmarks.bench_canaries [--pairs N] [--seed S]

Measures, seeded:

* ``swapped``: fingerprints of fake models with one set of "weights" compared with answers
  from another (``serving.fakes`` babble, 24 words): how many swaps the majority rule
  catches, and the highest similarity a swapped canary reached;
* ``divergence``: an unchanged model whose answer flips one token at position d and goes on
  differently (what batching noise does to greedy decoding): the similarity per d, and the
  first d at which a canary still matches, i.e. how late noise must start to be harmless;
* ``unchanged``: that noise on each canary with probability p, at a random position: how
  often a round of an unchanged model is a majority mismatch, and how often the confirming
  second round is too (both are needed to suspend);
* ``timing``: one verification's identity and fingerprint checks, and one canary round over
  many endpoints, against the fake server behind ``httpx.MockTransport``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

from benchmarks.common import RESULTS, loadavg, write_results
from serving.client import Endpoint, make_http_client
from serving.fakes import FakeModel, babble, fake_transport
from serving.fingerprint import (
    CANARY_PROMPTS,
    MATCH_THRESHOLD,
    SIMILARITY_TOKENS,
    CanaryAnswer,
    Fingerprint,
    ask_all,
    compare,
    similarity,
)
from serving.probes import identity_and_fingerprint


def _fingerprint(answers: list[str]) -> Fingerprint:
    return Fingerprint(
        {}, tuple(CanaryAnswer.of(p, a) for p, a in zip(CANARY_PROMPTS, answers, strict=True)), 1
    )


def _answers(weights: int) -> list[str]:
    model = FakeModel(weights=weights)
    body = {"messages": []}
    return [
        model.reply_text({**body, "messages": [{"role": "user", "content": p}]})
        for p in CANARY_PROMPTS
    ]


def swapped(pairs: int, rng: random.Random) -> dict[str, Any]:
    caught, top = 0, 0.0
    for _ in range(pairs):
        a, b = rng.sample(range(10**9), 2)
        verdict = compare(_fingerprint(_answers(a)), _answers(b))
        caught += verdict.drifted
        top = max(top, *(c.similarity for c in verdict.comparisons))
    return {"pairs": pairs, "caught": caught, "max_similarity": top}


def _diverged(text: str, at: int, rng: random.Random) -> str:
    words = text.split()
    return " ".join(words[:at] + babble(rng, max(0, len(words) - at)).split())


def divergence(rng: random.Random, trials: int = 200) -> dict[str, Any]:
    per_position: dict[int, float] = {}
    base = babble(random.Random(1), 48)
    for at in range(0, 49, 4):
        per_position[at] = round(
            min(similarity(base, _diverged(base, at, rng)) for _ in range(trials)), 3
        )
    safe = next((at for at, s in sorted(per_position.items()) if s >= MATCH_THRESHOLD), None)
    return {"words": 48, "min_similarity_by_position": per_position, "first_safe_position": safe}


def unchanged(rounds: int, rng: random.Random) -> dict[str, Any]:
    """Rounds of an unchanged model whose canaries each diverge with probability p (at a
    uniform position): majority mismatches, and suspensions (a confirming round too)."""
    fingerprint = _fingerprint([babble(random.Random(i), 24) for i in range(3)])
    by_p: dict[str, dict[str, int]] = {}
    for p in (0.05, 0.1, 0.25, 0.5):
        majority = confirmed = 0
        for _ in range(rounds):
            drifted = []
            for _ in range(2):
                got = [
                    _diverged(c.answer, rng.randint(0, 24), rng) if rng.random() < p else c.answer
                    for c in fingerprint.canaries
                ]
                drifted.append(compare(fingerprint, got).drifted)
            majority += drifted[0]
            confirmed += drifted[0] and drifted[1]
        by_p[str(p)] = {"majority_mismatch": majority, "suspended": confirmed}
    return {"rounds": rounds, "by_divergence_probability": by_p}


async def timing(endpoints: int) -> dict[str, Any]:
    model = FakeModel(weights=3)
    async with make_http_client(transport=fake_transport(model)) as client:
        endpoint = Endpoint("http://owner.example", model.served_name)
        started = time.perf_counter()
        _, _, fingerprint = await identity_and_fingerprint(client, endpoint)
        verify_ms = (time.perf_counter() - started) * 1000
        requests = len(model.requests)
        assert fingerprint is not None
        started = time.perf_counter()
        await asyncio.gather(*(ask_all(client, endpoint, fingerprint) for _ in range(endpoints)))
        round_ms = (time.perf_counter() - started) * 1000
    return {
        "verification_requests": requests,
        "verification_ms": round(verify_ms, 2),
        "round_endpoints": endpoints,
        "round_ms": round(round_ms, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    results = {
        "seed": args.seed,
        "threshold": MATCH_THRESHOLD,
        "similarity_tokens": SIMILARITY_TOKENS,
        "swapped": swapped(args.pairs, rng),
        "divergence": divergence(rng),
        "unchanged": unchanged(args.pairs, rng),
        "timing": asyncio.run(timing(100)),
        "loadavg": loadavg(),
    }
    print(write_results(RESULTS / "canaries.json", results))


if __name__ == "__main__":
    main()
