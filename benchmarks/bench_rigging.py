"""Rigging simulation: how many coordinated votes move a model up one rank, and what it costs.

The board has the real one's shape: 130 models, a million honest votes, 30% ties. Two shapes
of true ratings: ``lmarena`` (top near 1400, dense at the top, a long tail down to 1000, as
the published board looks) and ``normal`` (N(1150, 110^2)). Honest votes come in 20 rounds
of 50,000; before each round the board is refitted (:func:`ratings.leaderboard.fit_counts`,
sandwich intervals) and the round's pairs are drawn with the arena's own weights
(:func:`ratings.sampling.pair_probabilities`, as ``arena/battles/pairing.py`` draws them:
uniform with a floor, weighted toward pairs whose intervals overlap). A battle's expected
score is the Bradley-Terry one; 30% of battles are ties (fewer for pairs more than 300 Elo
apart, so that a tie stays half a win and the expected score stays Bradley-Terry's).

The attacker wants a target (board rank 3, the middle, or 5 from the bottom) to pass the
model just above it (the rival). It cannot choose pairs: it opens battles, which the arena
draws from the same weights, and must tell from the answers which side is the target. Its
classifier labels each answer "target" or "not" and is right with probability ``accuracy``
(95% or 80%, after arXiv 2501.07493), so most of its "target" votes in a rare-target arena
are false positives (votes for an arbitrary model). Strategies:

- ``target_only``: vote for the side labelled target when exactly one side is; otherwise
  ``none`` (abandon the battle), ``favourite`` (vote for the board's favourite, the vote the
  board test rewards most, assuming both models identified) or ``random`` (a coin flip);
- ``omnipresent_favourite``: as ``target_only``, and also vote against the rival when a
  second classifier (same accuracy) labels exactly one side rival (arXiv 2501.17858's
  idea that votes in battles without the target still move it); cover votes for the
  favourite.

Without the exclusion rules every cast vote counts. With them, the attacker splits its votes
over clients of ``k`` votes each, ``k`` the most a client can cast with at most 1% of such
clients flagged by the board test (:func:`ratings.outliers.evidence_path` at the default
threshold ``ln(1e4)``, the statistic ``arena/votes/abuse.py`` applies); a flagged client's
votes are all excluded. The burst rule and the rate limits are costs: a battle is two
battle-limit hits (create, message) against ``ARENA_RATE_LIMIT_BATTLES=20/minute`` per client
and per address, so 600 battles per address-hour; one network may cast at most the honest
hourly volume before the burst rule (more than half of a busy hour) fires, and two or more
networks voting at once never exceed half.

Battles needed are found by bisection over prefixes of one seeded attack stream (each step
a warm-started refit on pair counts).

    .venv/bin/python -m benchmarks.bench_rigging [--seed S]

Prints JSON and writes ``benchmarks/results/rigging.json``.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Before NumPy loads: OpenBLAS threads fighting over 2 busy cores make a 130x130 solve 20x
# slower than one thread does.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from benchmarks.common import RESULTS, write_results
from ratings.bt import fit_bt
from ratings.counts import PairCounts
from ratings.leaderboard import fit_counts
from ratings.outliers import evidence_path, predicted_score
from ratings.ranks import rank
from ratings.sampling import pair_probabilities

MODELS = 130
HONEST_VOTES = 1_000_000
ROUNDS = 20
TIE_RATE = 0.3
THRESHOLD = math.log(1.0 / 1e-4)  # ARENA_ABUSE_FALSE_POSITIVE_RATE's default
HISTORY = 1000  # arena/votes/abuse.py reads a client's latest 1000 votes
FLAGGED_SHARE = 0.01  # the attacker accepts losing at most this share of its clients
CLIENTS_SIMULATED = 200
BATTLES_PER_ADDRESS_HOUR = 60 * 20 // 2  # 20/minute battle limit, two hits per battle
# The honest arena's pace: a million votes in 90 days. The burst rule lets one network cast
# as many votes in an hour as everybody else together.
HONEST_VOTES_PER_HOUR = HONEST_VOTES / (90 * 24)
CAMPAIGN_HOURS = 24
MAX_BATTLES = 1 << 23
ACCURACIES = (0.95, 0.80)
OMNIPRESENT = "omnipresent_favourite"
STRATEGIES = ("target_only_none", "target_only_favourite", "target_only_random", OMNIPRESENT)
# Five targets per position (board ranks): the gap to the rival varies a lot between them.
POSITIONS = {
    "top": [2, 3, 4, 5, 6],
    "middle": [63, 64, 65, 66, 67],
    "bottom": [121, 122, 123, 124, 125],
}


def true_ratings(shape: str, rng: np.random.Generator) -> np.ndarray:
    if shape == "lmarena":
        # dense at the top, a long tail: rank r of M sits near 1400 - 400 (r/M)^1.5
        return np.sort(1400.0 - 400.0 * rng.random(MODELS) ** 1.5)[::-1]
    return np.sort(rng.normal(1150.0, 110.0, MODELS))[::-1]


class Arena:
    """Pair counts over every unordered pair (upper triangle), and the honest board."""

    def __init__(self, truth: np.ndarray, rng: np.random.Generator) -> None:
        self.truth = truth
        self.rng = rng
        self.names = tuple(f"m{k}" for k in range(MODELS))
        self.i, self.j = np.triu_indices(MODELS, k=1)
        self.wins_i = np.zeros(self.i.size)
        self.wins_j = np.zeros(self.i.size)
        self.ties = np.zeros(self.i.size)
        lo, hi, battles = np.full(MODELS, -np.inf), np.full(MODELS, np.inf), np.zeros(MODELS)
        for _ in range(ROUNDS):
            probs = self.pair_probs(lo, hi, battles)
            n = self.rng.multinomial(HONEST_VOTES // ROUNDS, probs)
            win, loss, tie = self.outcome_probs(self.i, self.j)
            out = self.rng.multinomial(n, np.stack([win, loss, tie], axis=1))
            self.wins_i += out[:, 0]
            self.wins_j += out[:, 1]
            self.ties += out[:, 2]
            # anchored on the true top model, so board and truth share a scale
            self.board = fit_counts(self.counts(), anchor=(self.names[0], float(truth[0])))
            lo, hi, battles = self.board.ci_low, self.board.ci_high, self.board.battles
        self.probs = self.pair_probs(lo, hi, battles)
        self.rating = self.board.rating
        self.half = (self.board.ci_high - self.board.ci_low) / 2

    def pair_probs(self, lo: np.ndarray, hi: np.ndarray, battles: np.ndarray) -> np.ndarray:
        flat = pair_probabilities(lo, hi, battles)[self.i, self.j]
        return flat / flat.sum()

    def outcome_probs(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
        s = predicted_score(self.truth[a], self.truth[b])
        t = np.minimum(TIE_RATE, 2 * np.minimum(s, 1 - s))
        return s - t / 2, 1 - s - t / 2, t

    def counts(self, extra: tuple[np.ndarray, ...] | None = None) -> PairCounts:
        wi, wj, ties = self.wins_i, self.wins_j, self.ties
        if extra is not None:
            wi, wj, ties = wi + extra[0], wj + extra[1], ties + extra[2]
        return PairCounts(self.names, self.i, self.j, wi, wj, ties)

    def board_p(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        r, h = self.rating, self.half
        return predicted_score(r[a], r[b], h[a], h[b])


@dataclass
class Votes:
    """Votes in the order cast: side A and B models, score of A, kind, battle index."""

    a: np.ndarray
    b: np.ndarray
    y: np.ndarray
    kind: np.ndarray  # 0 cover, 1 target (true), 2 false target, 3 rival (true), 4 false rival
    battle: np.ndarray


class AttackStream:
    """Seeded battles as the attacker sees them, grown on demand; votes per strategy."""

    def __init__(self, arena: Arena, target: int, rival: int, accuracy: float, seed: int):
        self.arena, self.target, self.rival, self.acc = arena, target, rival, accuracy
        self.rng = np.random.default_rng(seed)
        self.cum = np.cumsum(arena.probs)
        self.chunks: list[dict[str, np.ndarray]] = []
        self.size = 0

    def battles(self, n: int) -> dict[str, np.ndarray]:
        while self.size < n:
            m = max(1 << 16, self.size)
            k = np.minimum(np.searchsorted(self.cum, self.rng.random(m)), self.cum.size - 1)
            swap = self.rng.random(m) < 0.5
            i, j = self.arena.i[k], self.arena.j[k]
            self.chunks.append(
                {
                    "a": np.where(swap, j, i).astype(np.int16),
                    "b": np.where(swap, i, j).astype(np.int16),
                    # the labels' draws: target A, B; rival A, B
                    "u": self.rng.random((m, 4), dtype=np.float32),
                    "coin": self.rng.random(m, dtype=np.float32),
                }
            )
            self.size += m
        if len(self.chunks) > 1:
            joined = {k: np.concatenate([c[k] for c in self.chunks]) for k in self.chunks[0]}
            self.chunks = [joined]
        return {key: v[:n] for key, v in self.chunks[0].items()}

    def votes(self, n: int, strategy: str) -> Votes:
        d = self.battles(n)
        a, b, u = d["a"], d["b"], d["u"]

        def labelled(who: int, ua: np.ndarray, ub: np.ndarray) -> tuple[np.ndarray, ...]:
            la = np.where(a == who, ua < self.acc, ua < 1 - self.acc)
            lb = np.where(b == who, ub < self.acc, ub < 1 - self.acc)
            return la & ~lb, lb & ~la

        ta, tb = labelled(self.target, u[:, 0], u[:, 1])
        y = np.full(n, np.nan)
        kind = np.zeros(n, dtype=np.int8)
        y[ta], y[tb] = 1.0, 0.0
        kind[ta] = np.where(a[ta] == self.target, 1, 2)
        kind[tb] = np.where(b[tb] == self.target, 1, 2)
        rest = ~(ta | tb)
        if strategy == OMNIPRESENT:
            ra, rb = labelled(self.rival, u[:, 2], u[:, 3])
            ra, rb = ra & rest, rb & rest
            y[ra], y[rb] = 0.0, 1.0
            kind[ra] = np.where(a[ra] == self.rival, 3, 4)
            kind[rb] = np.where(b[rb] == self.rival, 3, 4)
            rest &= ~(ra | rb)
        cover = strategy.rsplit("_", 1)[1]
        if cover == "favourite":
            y[rest] = (self.arena.rating[a[rest]] > self.arena.rating[b[rest]]).astype(float)
        elif cover == "random":
            y[rest] = (d["coin"][rest] < 0.5).astype(float)
        cast = ~np.isnan(y)
        idx = np.flatnonzero(cast)
        return Votes(a[cast], b[cast], y[cast], kind[cast], idx)


class Flags:
    """Which clients (consecutive runs of ``k`` votes) the board test flags, cached per
    finished client: a prefix of the stream is a prefix of every client list."""

    def __init__(self, arena: Arena, k: int) -> None:
        self.arena, self.k = arena, k
        self.done: list[bool] = []

    def _client(self, v: Votes, s: slice) -> bool:
        path = evidence_path(v.a[s], v.b[s], self.arena.board_p(v.a[s], v.b[s]), v.y[s])
        return bool(path.size and path.max() >= THRESHOLD)

    def excluded(self, v: Votes) -> np.ndarray:
        k, n = self.k, v.a.size
        for c in range(len(self.done), n // k):
            self.done.append(self._client(v, slice(c * k, (c + 1) * k)))
        out = np.repeat(np.array(self.done[: n // k], dtype=bool), k)
        if n % k:
            out = np.concatenate([out, np.full(n % k, self._client(v, slice(n - n % k, n)))])
        return out


def moved(
    arena: Arena, v: Votes, keep: np.ndarray, target: int, goal: int, theta: np.ndarray
) -> bool:
    a, b, y = v.a[keep].astype(np.int64), v.b[keep].astype(np.int64), v.y[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pair = lo * MODELS - lo * (lo + 1) // 2 + (hi - lo - 1)  # index into triu_indices
    score_lo = np.where(a == lo, y, 1 - y)
    size = arena.i.size
    wi = np.bincount(pair, weights=(score_lo == 1.0), minlength=size)
    wj = np.bincount(pair, weights=(score_lo == 0.0), minlength=size)
    ties = np.bincount(pair, weights=(score_lo == 0.5), minlength=size)
    fit = fit_bt(arena.counts((wi, wj, ties)), theta0=theta, check=False)
    return bool(rank(fit.theta)[target] <= goal)


def battles_needed(
    arena: Arena, stream: AttackStream, strategy: str, target: int, goal: int, k: int | None
) -> dict[str, int] | None:
    """Fewest battles (bisection over prefixes, 0.5%) after which the target has rank ``goal``."""
    theta = arena.board.theta
    flags = None if k is None else Flags(arena, k)

    def ok(n: int) -> tuple[bool, Votes, np.ndarray]:
        v = stream.votes(n, strategy)
        keep = np.ones(v.a.size, dtype=bool) if flags is None else ~flags.excluded(v)
        return moved(arena, v, keep, target, goal, theta), v, keep

    low, high = 0, 256
    while not ok(high)[0]:
        low, high = high, high * 2
        if high > MAX_BATTLES:
            return None
    while high - low > max(1, high // 200):
        mid = (low + high) // 2
        low, high = (low, mid) if ok(mid)[0] else (mid, high)
    _, v, keep = ok(high)
    kinds = np.bincount(v.kind, minlength=5)
    return {
        "battles": high,
        "votes": int(v.a.size),
        "counted": int(keep.sum()),
        "target": int(kinds[1]),
        "false_target": int(kinds[2]),
        "rival": int(kinds[3] + kinds[4]),
        "cover": int(kinds[0]),
    }


def votes_per_client(arena: Arena, stream: AttackStream, strategy: str) -> dict[str, Any]:
    """How many votes a client of this pattern casts before the board test flags it."""
    n = 1 << 16
    while stream.votes(n, strategy).a.size < CLIENTS_SIMULATED * HISTORY and n < MAX_BATTLES:
        n *= 2
    v = stream.votes(n, strategy)
    p = arena.board_p(v.a, v.b)
    first = []
    for c in range(min(CLIENTS_SIMULATED, v.a.size // HISTORY)):
        s = slice(c * HISTORY, (c + 1) * HISTORY)
        hit = np.flatnonzero(evidence_path(v.a[s], v.b[s], p[s], v.y[s]) >= THRESHOLD)
        first.append(int(hit[0]) + 1 if hit.size else HISTORY + 1)
    arr = np.sort(np.array(first))
    # the largest k with at most FLAGGED_SHARE of clients flagged within their first k votes
    safe = int(arr[int(FLAGGED_SHARE * arr.size)]) - 1
    return {
        "first_flag_median": int(np.median(arr)) if np.median(arr) <= HISTORY else None,
        "never_flagged_in_1000": round(float((arr > HISTORY).mean()), 3),
        "safe_votes": max(1, min(safe, HISTORY)),
    }


def costs(found: dict[str, int], safe: int) -> dict[str, Any]:
    votes, battles = found["votes"], found["battles"]
    address_hours = battles / BATTLES_PER_ADDRESS_HOUR
    return {
        "clients": max(math.ceil(votes / safe), math.ceil(address_hours / CAMPAIGN_HOURS)),
        "address_hours": round(address_hours, 1),
        "addresses": math.ceil(address_hours / CAMPAIGN_HOURS),
        "networks": 1 if votes / CAMPAIGN_HOURS <= HONEST_VOTES_PER_HOUR else 2,
        "hours_on_one_network": round(votes / HONEST_VOTES_PER_HOUR, 1),
    }


def one_target(arena: Arena, r0: int, accuracy: float, seed: int) -> dict[str, Any]:
    order = np.argsort(-arena.rating)
    target, rival = int(order[r0 - 1]), int(order[r0 - 2])
    stream = AttackStream(arena, target, rival, accuracy, seed)
    share = float(arena.probs[(arena.i == target) | (arena.j == target)].sum())
    out: dict[str, Any] = {
        "rank": r0,
        "gap_elo": round(float(arena.rating[rival] - arena.rating[target]), 2),
        "half_width_elo": round(float(arena.half[target]), 2),
        "battle_share": round(share, 4),
    }
    for strategy in STRATEGIES:
        row: dict[str, Any] = {
            "without_rules": battles_needed(arena, stream, strategy, target, r0 - 1, None)
        }
        row["per_client"] = votes_per_client(arena, stream, strategy)
        k = row["per_client"]["safe_votes"]
        row["with_rules"] = battles_needed(arena, stream, strategy, target, r0 - 1, k)
        if row["with_rules"] is not None:
            row["cost"] = costs(row["with_rules"], k)
        out[strategy] = row
    return out


def summary(targets: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians (and ranges) over the targets of a position."""

    def med(values: list[float]) -> dict[str, float]:
        arr = np.array(values, dtype=float)
        return {"median": float(np.median(arr)), "min": float(arr.min()), "max": float(arr.max())}

    out: dict[str, Any] = {
        "gap_elo": med([t["gap_elo"] for t in targets]),
        "battle_share": med([t["battle_share"] for t in targets]),
    }
    for strategy in STRATEGIES:
        rows = [t[strategy] for t in targets]
        if any(r["without_rules"] is None or r["with_rules"] is None for r in rows):
            out[strategy] = {"not_reached_within_battles": MAX_BATTLES}
            continue
        out[strategy] = {
            "battles": med([r["without_rules"]["battles"] for r in rows]),
            "votes": med([r["without_rules"]["votes"] for r in rows]),
            "target_votes": med([r["without_rules"]["target"] for r in rows]),
            "battles_with_rules": med([r["with_rules"]["battles"] for r in rows]),
            "votes_with_rules": med([r["with_rules"]["votes"] for r in rows]),
            "safe_votes_per_client": med([r["per_client"]["safe_votes"] for r in rows]),
            "clients": med([r["cost"]["clients"] for r in rows]),
            "address_hours": med([r["cost"]["address_hours"] for r in rows]),
            "networks": med([r["cost"]["networks"] for r in rows]),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "rigging.json")
    args = parser.parse_args()
    start = time.perf_counter()
    results: dict[str, Any] = {
        "seed": args.seed,
        "models": MODELS,
        "honest_votes": HONEST_VOTES,
        "threshold": round(THRESHOLD, 3),
        "flagged_share_accepted": FLAGGED_SHARE,
        "honest_votes_per_hour": round(HONEST_VOTES_PER_HOUR, 1),
        "campaign_hours": CAMPAIGN_HOURS,
        "targets_per_position": POSITIONS,
        "boards": {},
    }
    for b, shape in enumerate(("lmarena", "normal")):
        rng = np.random.default_rng([args.seed, b])
        t0 = time.perf_counter()
        arena = Arena(true_ratings(shape, rng), rng)
        board: dict[str, Any] = {
            "honest_seconds": round(time.perf_counter() - t0, 1),
            "tie_share": round(float(arena.ties.sum() / HONEST_VOTES), 4),
            "rating_top_bottom": [
                round(float(x), 1) for x in (arena.rating.max(), arena.rating.min())
            ],
            "half_width_mean_elo": round(float(arena.half.mean()), 2),
            "summary": {},
            "targets": {},
        }
        for position, ranks in POSITIONS.items():
            for accuracy in ACCURACIES:
                key = f"{position}@{accuracy:.2f}"
                targets = [
                    one_target(arena, r0, accuracy, args.seed * 10_000 + b * 1000 + r0)
                    for r0 in ranks
                ]
                board["targets"][key] = targets
                board["summary"][key] = summary(targets)
                print(f"{shape} {key}: {time.perf_counter() - start:.0f} s", flush=True)
        results["boards"][shape] = board
    results["seconds"] = round(time.perf_counter() - start, 1)
    print(write_results(args.out, results))


if __name__ == "__main__":
    main()
