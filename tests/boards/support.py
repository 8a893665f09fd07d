"""Votes with categories, style features and answers, straight into the database."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from arena.battles.tables import Battle, BattleResponse, BattleTurn
from arena.db import utcnow
from arena.models.service import OperatorModel, add_operator_model
from arena.votes.service import exclude
from arena.votes.tables import Vote

STRENGTH = {"Alpha-7B": 1.0, "Beta-3B": 0.5, "Gamma-1B": 0.0, "Delta-0.5B": -0.6}
PARAMETERS = {"Alpha-7B": 7_000_000_000, "Beta-3B": 3_000_000_000, "Orca-13B": 13_015_864_320}
# (tag, share of votes carrying it)
TAGS = (("lang:en", 0.7), ("coding", 0.4), ("math", 0.15), ("multi_turn", 0.3))


@dataclass
class Seeded:
    ids: dict[str, int]
    votes: list[Vote]


def add_models(session: Session, strength: dict[str, float] = STRENGTH) -> dict[str, int]:
    return {
        name: add_operator_model(
            session,
            OperatorModel(
                name=name,
                base_url="http://127.0.0.1:9/v1",
                api_model=name,
                organization=name.split("-")[0] + " Labs",
                license="proprietary" if name == "Beta-3B" else "open",
                parameters=PARAMETERS.get(name),
            ),
        ).id
        for name in strength
    }


def seed(
    session: Session,
    n: int,
    *,
    rng_seed: int = 11,
    ids: dict[str, int] | None = None,
    bold: bool = True,
    answers: bool = False,
    key: str = "v",
    strength: dict[str, float] = STRENGTH,
) -> Seeded:
    """``n`` votes: winners from STRENGTH, random tags and style features (longer answers win
    a little more often, so the length coefficient is real); every 23rd excluded."""
    rng = random.Random(rng_seed)
    ids = ids or add_models(session, strength)
    votes = []
    for k in range(n):
        a, b = rng.sample(list(strength), 2)
        ta, tb = rng.randint(20, 400), rng.randint(20, 400)
        p_a = 1 / (1 + 10 ** (strength[b] - strength[a] - 1.5 * (ta - tb) / (ta + tb)))
        u = rng.random()
        winner = "tie" if u < 0.1 else "bothbad" if u < 0.14 else "A" if rng.random() < p_a else "B"
        tags = sorted(t for t, share in TAGS if rng.random() < share)
        battle = Battle(
            id=f"{key}{k}".rjust(32, "0"),
            model_a_id=ids[a],
            model_b_id=ids[b],
            system_message="s",
            client_hash=f"c{key}{k}",
            ip_hash="i",
            network_hash="n",
        )
        session.add(battle)
        session.flush()
        if answers:
            add_answers(session, battle, rng)
        vote = Vote(
            battle_id=battle.id,
            winner=winner,
            model_a_id=ids[a],
            model_b_id=ids[b],
            turns=2 if "multi_turn" in tags else 1,
            client_hash=f"c{key}{k}",
            ip_hash="i",
            network_hash="n",
            read_seconds=10.0,
            created_at=utcnow(),
            a_tokens=ta,
            b_tokens=tb,
            a_headers=rng.randint(0, 3),
            b_headers=rng.randint(0, 3),
            a_lists=rng.randint(0, 6),
            b_lists=rng.randint(0, 6),
            a_bold=rng.randint(0, 4) if bold else 0,
            b_bold=rng.randint(0, 4) if bold else 0,
            categories=",".join(tags),
        )
        session.add(vote)
        session.flush()
        if k % 23 == 5:
            exclude(session, vote, "too_fast", "test")
        votes.append(vote)
    return Seeded(ids, votes)


def add_answers(session: Session, battle: Battle, rng: random.Random) -> None:
    """One finished turn with both answers, with measured time to first token and speed."""
    turn = BattleTurn(battle_id=battle.id, idx=0, content="q", status="done")
    session.add(turn)
    session.flush()
    now = utcnow()
    for side in ("A", "B"):
        session.add(
            BattleResponse(
                turn_id=turn.id,
                side=side,
                content="answer",
                status="done",
                finish_reason="stop",
                completion_tokens=rng.randint(20, 200),
                ttft_ms=float(rng.randint(50, 900)),
                duration_ms=float(rng.randint(1000, 6000)),
                started_at=now - timedelta(seconds=5),
                finished_at=now,
            )
        )
    session.flush()
