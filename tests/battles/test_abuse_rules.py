"""Exclusion rules against the arena itself: the board test and the per-network burst rule."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from itertools import count

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.battles.tables import Battle
from arena.clients import ClientIdentity
from arena.db import session_scope, utcnow
from arena.leaderboard.tables import LeaderboardSnapshot, SnapshotRow
from arena.models.service import OperatorModel, add_operator_model
from arena.models.tables import ModelEndpoint
from arena.settings import Settings
from arena.votes.abuse import check_abuse
from arena.votes.service import exclude
from arena.votes.tables import Vote, VoteExclusion
from tests.battles.support import send

DETAIL = re.compile(
    r"^log-likelihood ratio (\d+\.\d) over (\d+) votes against the board of snapshot \d+ "
    r"\(threshold 9\.2\)$"
)
_battle_ids = count()


def models(session: Session, *names: str) -> list[int]:
    return [
        add_operator_model(
            session, OperatorModel(name=n, base_url="http://127.0.0.1:9/v1", api_model=n)
        ).id
        for n in names
    ]


def publish_board(session: Session, board: dict[int, tuple[float, float]]) -> int:
    """A headline snapshot with these (rating, half-width) per model id."""
    snap = LeaderboardSnapshot(
        method="bradley-terry", vote_watermark=0, sha256="0" * 64, votes_included=0
    )
    session.add(snap)
    session.flush()
    for model_id, (rating, half) in board.items():
        session.add(
            SnapshotRow(
                snapshot_id=snap.id,
                model_id=model_id,
                model=f"m{model_id}",
                rating=rating,
                ci_low=rating - half,
                ci_high=rating + half,
                rank=1,
                rank_ub=1,
                battles=1000,
            )
        )
    session.flush()
    return snap.id


def who(client: str, network: str = "net", trusted: bool = False) -> ClientIdentity:
    return ClientIdentity(client, f"ip-{client}", network, trusted)


def cast(
    session: Session,
    settings: Settings,
    voter: ClientIdentity,
    a: int,
    b: int,
    winner: str,
    at: datetime | None = None,
) -> Vote:
    """What cast_vote does around the rules: judge, store, exclude (earlier votes too)."""
    battle = Battle(
        id=f"{next(_battle_ids):032x}",
        model_a_id=a,
        model_b_id=b,
        system_message="s",
        client_hash=voter.client_hash,
        ip_hash=voter.ip_hash,
        network_hash=voter.network_hash,
    )
    session.add(battle)
    vote = Vote(
        battle_id=battle.id,
        winner=winner,
        model_a_id=a,
        model_b_id=b,
        turns=1,
        client_hash=voter.client_hash,
        ip_hash=voter.ip_hash,
        network_hash=voter.network_hash,
        read_seconds=10.0,
        created_at=at or utcnow(),
    )
    flags = check_abuse(session, settings, voter, vote)
    session.add(vote)
    session.flush()
    for flag in flags:
        for earlier in flag.earlier_vote_ids:
            exclude(session, session.get(Vote, earlier), flag.reason, flag.detail)  # type: ignore[arg-type]
        exclude(session, vote, flag.reason, flag.detail)
    session.flush()
    return vote


def naive(t: datetime) -> datetime:
    return t.replace(tzinfo=None)


def abuse_rows(session: Session) -> list[VoteExclusion]:
    return list(
        session.scalars(
            select(VoteExclusion)
            .where(VoteExclusion.reason == "abuse_pattern")
            .order_by(VoteExclusion.vote_id)
        )
    )


def test_an_honest_voter_who_agrees_with_the_board_keeps_every_vote(
    session: Session, settings: Settings
) -> None:
    # The two-model demo: the 0.5B model is clearly better, and this voter always says so.
    strong, weak = models(session, "Qwen-0.5B", "SmolLM-135M")
    publish_board(session, {strong: (1100.0, 15.0), weak: (900.0, 15.0)})
    voter = who("fan-of-the-better-model")
    start = utcnow() - timedelta(hours=7)
    for k in range(200):  # one every two minutes: no hour is a burst
        a, b = (strong, weak) if k % 2 else (weak, strong)
        at = start + timedelta(minutes=2 * k)
        vote = cast(session, settings, voter, a, b, "A" if a == strong else "B", at=at)
        assert vote.included, k
    assert abuse_rows(session) == []


def test_a_client_voting_against_strong_predictions_is_flagged(
    session: Session, settings: Settings
) -> None:
    strong, weak = models(session, "Strong", "Weak")
    snapshot = publish_board(session, {strong: (1300.0, 10.0), weak: (700.0, 10.0)})
    voter = who("contrarian")
    start = utcnow() - timedelta(minutes=30)
    votes = []
    for k in range(6):
        votes.append(
            cast(session, settings, voter, strong, weak, "B", at=start + timedelta(minutes=k))
        )
        if not votes[-1].included:
            break
    flagged = votes[-1]
    assert len(votes) == 4 and not flagged.included and all(not v.included for v in votes)
    rows = abuse_rows(session)
    assert [r.vote_id for r in rows] == [v.id for v in votes]  # one row per vote
    match = DETAIL.match(rows[-1].detail)
    assert match and float(match.group(1)) >= 9.2 and match.group(2) == "4", rows[-1].detail
    assert f"snapshot {snapshot} " in rows[-1].detail
    for k, (vote, row) in enumerate(zip(votes, rows, strict=True)):
        # each earlier vote keeps its own row and time; its exclusion carries when it was made
        assert vote.created_at == start + timedelta(minutes=k) and vote.winner == "B"
        assert naive(row.created_at) > naive(flagged.created_at)
    # one more vote: excluded too, and the earlier ones are not excluded twice
    again = cast(session, settings, voter, weak, strong, "A")
    assert not again.included
    assert [r.vote_id for r in abuse_rows(session)] == [v.id for v in votes] + [again.id]


def test_votes_off_the_board_are_not_judged(session: Session, settings: Settings) -> None:
    strong, weak, new = models(session, "Strong", "Weak", "Newcomer")
    publish_board(session, {strong: (1300.0, 10.0), weak: (700.0, 10.0)})
    voter = who("newcomer-fan")
    first = [cast(session, settings, voter, new, weak, "A") for _ in range(10)]
    assert all(v.included for v in first)
    late = [cast(session, settings, voter, strong, weak, "B") for _ in range(4)]
    assert not late[-1].included
    # the flag excludes the votes the test read, not the newcomer's battles it skipped
    assert all(v.included for v in first)
    assert {r.vote_id for r in abuse_rows(session)} == {v.id for v in late}


def test_no_board_yet_means_no_board_test(session: Session, settings: Settings) -> None:
    strong, weak = models(session, "Strong", "Weak")
    voter = who("early")
    assert all(cast(session, settings, voter, strong, weak, "B").included for _ in range(30))


def burst_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"abuse_burst_min_votes": 50, "abuse_burst_share": 0.5})


def test_a_network_dominating_a_busy_hour_is_flagged(session: Session, settings: Settings) -> None:
    settings = burst_settings(settings)
    a, b = models(session, "A-model", "B-model")
    now = utcnow()
    for k in range(60):  # a busy hour from sixty other networks, and an old burst
        cast(session, settings, who(f"c{k}", f"n{k}"), a, b, "tie", at=now - timedelta(minutes=50))
    for k in range(100):
        cast(session, settings, who(f"old{k}", "lab"), a, b, "tie", at=now - timedelta(hours=2))
    lab = [cast(session, settings, who(f"lab{k}", "lab"), a, b, "tie") for k in range(70)]
    # 60 of 121 is not over half; the 61st lab vote of the hour is
    assert all(v.included for v in lab[:60])
    assert not any(v.included for v in lab[60:])
    detail = abuse_rows(session)[0].detail
    assert detail == (
        "61 of the last hour's 121 votes (50.4%) came from one network "
        "(limit 50% once an hour has 50 votes)"
    )
    trusted = [
        cast(session, settings, who(f"t{k}", "lab", trusted=True), a, b, "tie") for k in range(20)
    ]
    assert all(v.included for v in trusted)


def test_a_quiet_arena_with_one_lab_network_is_not_flagged(
    session: Session, settings: Settings
) -> None:
    a, b = models(session, "A-model", "B-model")
    assert settings.abuse_burst_min_votes == 200
    votes = [cast(session, settings, who(f"lab{k}", "lab"), a, b, "A") for k in range(199)]
    assert all(v.included for v in votes)
    assert not cast(session, settings, who("lab-200", "lab"), a, b, "A").included


async def test_the_vote_route_applies_the_board_test(
    arena: FastAPI, client: httpx.AsyncClient
) -> None:
    with session_scope(arena.state.sessionmaker) as s:
        ids = {m.name: m.id for m in s.scalars(select(ModelEndpoint))}
        publish_board(s, {ids["Alpha-7B"]: (1300.0, 10.0), ids["Beta-3B"]: (700.0, 10.0)})
    voted = []
    for _ in range(4):
        battle_id = (await client.post("/api/v1/battles", json={})).json()["battle_id"]
        assert (await send(client, battle_id, "Which is better?")).status_code == 200
        with session_scope(arena.state.sessionmaker) as s:
            battle = s.get(Battle, battle_id)
            assert battle is not None
            side = "A" if battle.model_a_id == ids["Beta-3B"] else "B"
        r = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": side})
        assert r.status_code == 200, r.text
        voted.append(r.json()["vote_id"])
    with session_scope(arena.state.sessionmaker) as s:
        rows = s.scalars(select(VoteExclusion).where(VoteExclusion.reason == "abuse_pattern")).all()
        assert sorted(r.vote_id for r in rows) == voted
        assert all(DETAIL.match(r.detail) for r in rows)
        assert not any(s.get(Vote, v).included for v in voted)  # type: ignore[union-attr]


@pytest.mark.parametrize("rate", [0.0, 1.0, -1e-3])
def test_the_false_positive_rate_must_be_a_probability(rate: float) -> None:
    with pytest.raises(ValueError, match="abuse_false_positive_rate"):
        Settings(abuse_false_positive_rate=rate)
