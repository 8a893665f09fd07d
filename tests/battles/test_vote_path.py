"""The vote path stays cheap: a bounded number of statements, no answer read per vote, and
inputs computed at turn close that equal a scan of the stored answers; the turn is written
while both sides stream, and concurrent messages still give one turn and a 409."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from arena.battles.tables import Battle, BattleTurn
from arena.battles.turns import plan_turn, write_turn
from arena.clients import ClientIdentity
from arena.db import session_scope
from arena.errors import ArenaError
from arena.models.tables import ModelEndpoint
from arena.settings import Settings
from arena.votes.abuse import BURST_SAMPLE
from arena.votes.inputs import Answer, Identity, VoteInputs, scan
from arena.votes.service import cast_vote
from arena.votes.tables import Vote, VoteExclusion
from tests.battles.support import Backends, parse_sse, send
from tests.battles.test_abuse_rules import abuse_rows, burst_settings, cast, models, publish_board
from tests.battles.test_abuse_rules import who as voter

#: Claim, last turn and models, board, client history, burst counts, prompt counter, vote
#: (and the board's rows the first time a snapshot is seen).
MAX_STATEMENTS = 8


@contextmanager
def counted(conn: Connection) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(conn, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(conn, "before_cursor_execute", record)


async def answered_battle(client: httpx.AsyncClient, *messages: str) -> str:
    battle_id = str((await client.post("/api/v1/battles", json={})).json()["battle_id"])
    for content in messages:
        r = await send(client, battle_id, content)
        assert r.status_code == 200 and parse_sse(r.text)[-1] == "[DONE]", r.text
    return battle_id


def owner_of(app: FastAPI, battle_id: str) -> ClientIdentity:
    with session_scope(app.state.sessionmaker) as s:
        b = s.get(Battle, battle_id)
        assert b is not None
        return ClientIdentity(b.client_hash, b.ip_hash, b.network_hash, False)


def vote_counted(
    app: FastAPI, battle_id: str, winner: str = "A"
) -> tuple[list[str], Vote, dict[str, str]]:
    who = owner_of(app, battle_id)
    engine = app.state.engine
    with engine.connect() as conn, counted(conn) as statements, Session(bind=conn) as session:
        cast = cast_vote(session, app.state.settings, battle_id, winner, who)
        session.commit()
    return statements, cast.vote, cast.excluded


def full_scan(app: FastAPI, battle_id: str) -> VoteInputs:
    """The inputs from the stored answers, as a vote on an old turn computes them."""
    from arena.battles.turns import turns_with_answers

    with session_scope(app.state.sessionmaker) as s:
        b = s.get(Battle, battle_id)
        assert b is not None
        ms = {
            side: s.get(ModelEndpoint, mid)
            for side, mid in (("A", b.model_a_id), ("B", b.model_b_id))
        }
        identities = {k: Identity(m.name, m.organization, m.aliases) for k, m in ms.items() if m}
        turns = turns_with_answers(s, battle_id)
        answers = [Answer(t.idx, side, *t.answers[side]) for t in turns for side in ("A", "B")]
        return scan(turns[0].content, identities, answers)


async def test_a_vote_is_a_few_statements_and_reads_no_answer(
    arena: FastAPI, client: httpx.AsyncClient
) -> None:
    with session_scope(arena.state.sessionmaker) as s:
        ids = [m.id for m in s.scalars(select(ModelEndpoint))]
        publish_board(s, {ids[0]: (1010.0, 50.0), ids[1]: (990.0, 50.0)})
    for k in range(2):  # the first sees the new board (its rows read once), the second not
        battle_id = await answered_battle(client, f"question {k}", "and a follow-up")
        statements, vote, excluded = vote_counted(arena, battle_id)
        assert vote.included and excluded == {} and vote.turns == 2
        assert len(statements) <= MAX_STATEMENTS - k, statements
        assert not any("battle_responses" in s for s in statements), statements
        assert sum(s.lstrip().upper().startswith("INSERT") for s in statements) == 2  # vote, prompt


async def test_inputs_at_turn_close_equal_a_scan_of_the_answers(
    arena: FastAPI, client: httpx.AsyncClient, backends: Backends
) -> None:
    backends.alpha.model.answer = "# Alpha here\n- **one**\n- two\nI am made by Alpha Labs."
    battle_id = await answered_battle(client, "first", "second", "third")
    with session_scope(arena.state.sessionmaker) as s:
        last = s.scalars(
            select(BattleTurn).where(BattleTurn.battle_id == battle_id, BattleTurn.idx == 2)
        ).one()
        stored = VoteInputs.from_json(last.vote_inputs)
    assert stored is not None and stored == full_scan(arena, battle_id)
    assert stored.turns == 3 and stored.leak_detail() is not None
    _, vote, excluded = vote_counted(arena, battle_id)
    assert set(excluded) == {"identity_leak"} and excluded["identity_leak"].count("named") == 3
    for side in ("A", "B"):
        style, prefix = stored.style[side], side.lower()
        assert getattr(vote, f"{prefix}_tokens") == stored.tokens[side] > 0
        for key in ("chars", "headers", "lists", "bold"):
            assert getattr(vote, f"{prefix}_{key}") == getattr(style, key)
    assert max(vote.a_headers, vote.b_headers) == 3  # one heading per turn of Alpha's


async def test_turns_without_inputs_and_renamed_models_are_scanned_again(
    arena: FastAPI, client: httpx.AsyncClient, backends: Backends
) -> None:
    backends.beta.model.answer = "Glad to help; Zorblax is my name."
    old = await answered_battle(client, "stored before 0007")
    with session_scope(arena.state.sessionmaker) as s:
        s.execute(update(BattleTurn).where(BattleTurn.battle_id == old).values(vote_inputs=None))
    statements, vote, excluded = vote_counted(arena, old)
    assert any("battle_responses" in s for s in statements)  # scanned, as before 0007
    assert vote.included and vote.a_chars + vote.b_chars > 0

    renamed = await answered_battle(client, "who are you?")
    with session_scope(arena.state.sessionmaker) as s:
        beta = s.scalars(select(ModelEndpoint).where(ModelEndpoint.name == "Beta-3B")).one()
        beta.aliases = [*beta.aliases, "Zorblax"]  # a verification learnt a new name
    _, vote, excluded = vote_counted(arena, renamed)
    assert not vote.included and "named 'Zorblax'" in excluded["identity_leak"]
    with session_scope(arena.state.sessionmaker) as s:
        reasons = s.scalars(select(VoteExclusion.reason).where(VoteExclusion.vote_id == vote.id))
        assert list(reasons) == ["identity_leak"]


async def test_planning_reads_and_writing_decides_races(
    arena: FastAPI, client: httpx.AsyncClient, backends: Backends
) -> None:
    settings: Settings = arena.state.settings
    battle_id = str((await client.post("/api/v1/battles", json={})).json()["battle_id"])
    who = owner_of(arena, battle_id)
    engine = arena.state.engine
    with engine.connect() as conn, counted(conn) as statements, Session(bind=conn) as s:
        first = plan_turn(s, settings, battle_id, "hello", who.client_hash)
        second = plan_turn(s, settings, battle_id, "hello", who.client_hash)
    assert len(statements) == 4 and all(x.lstrip().upper().startswith("SELECT") for x in statements)
    with session_scope(arena.state.sessionmaker) as s:
        turn_id = write_turn(s, first)
    with session_scope(arena.state.sessionmaker) as s, pytest.raises(ArenaError) as lost:
        write_turn(s, second)
    assert lost.value.status == 409 and lost.value.code == "turn_in_progress"
    with session_scope(arena.state.sessionmaker) as s:
        turns = s.scalars(select(BattleTurn).where(BattleTurn.battle_id == battle_id)).all()
        assert [t.id for t in turns] == [turn_id] and turns[0].status == "streaming"
        # the failed turn can be retried once by each of two racing retries: one wins
        turns[0].status = "failed"
    retries = []
    with session_scope(arena.state.sessionmaker) as s:
        retries = [plan_turn(s, settings, battle_id, "hello", who.client_hash) for _ in range(2)]
    assert all(r.retry == (turn_id, 1) for r in retries)
    with session_scope(arena.state.sessionmaker) as s:
        assert write_turn(s, retries[0]) == turn_id
    with session_scope(arena.state.sessionmaker) as s, pytest.raises(ArenaError) as lost:
        write_turn(s, retries[1])
    assert lost.value.status == 409 and lost.value.code == "turn_in_progress"
    with session_scope(arena.state.sessionmaker) as s:
        assert s.get(BattleTurn, turn_id).attempts == 2  # type: ignore[union-attr]


async def test_two_messages_at_once_give_one_turn_and_a_409(
    arena: FastAPI, client: httpx.AsyncClient, backends: Backends
) -> None:
    for server in (backends.alpha, backends.beta):
        server.model.tokens_per_second = 20.0  # both still streaming when the other arrives
    battle_id = str((await client.post("/api/v1/battles", json={})).json()["battle_id"])
    one, two = await asyncio.gather(send(client, battle_id, "hi"), send(client, battle_id, "hi"))
    codes = sorted([one.status_code, two.status_code])
    assert codes == [200, 409], (one.text, two.text)
    refused = one if one.status_code == 409 else two
    assert refused.json()["error"]["code"] == "turn_in_progress"
    with session_scope(arena.state.sessionmaker) as s:
        turns = s.scalars(select(BattleTurn).where(BattleTurn.battle_id == battle_id)).all()
        assert len(turns) == 1 and turns[0].status == "done"
    r = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "A"})
    assert r.status_code == 200, r.text


def test_a_busy_network_is_counted_in_full(session: Session, settings: Settings) -> None:
    """Past BURST_SAMPLE votes of its own, a network's share is judged on exact counts."""
    settings = burst_settings(settings)
    a, b = models(session, "A-model", "B-model")
    for k in range(BURST_SAMPLE + 100):
        cast(session, settings, voter(f"c{k}", f"n{k % 97}"), a, b, "tie")
    lab = [
        cast(session, settings, voter(f"lab{k}", "lab"), a, b, "tie")
        for k in range(BURST_SAMPLE + 101)
    ]
    # 300 others: the lab's 301st vote is the first over half (301 of 601)
    assert all(v.included for v in lab[:300]) and not lab[300].included
    assert abuse_rows(session)[0].detail.startswith("301 of the last hour's 601 votes (50.1%)")
