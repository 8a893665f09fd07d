"""An old snapshot still verifies after later votes, later exclusions of its own votes, and
(on PostgreSQL) a vote that commits after the snapshot with an id below its watermark."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.orm import Session

from arena.app import create_app
from arena.db import make_engine, session_scope
from arena.exports.columns import VOTE_COLUMNS
from arena.leaderboard.digest import NEVER, Digests, first_difference, jsonl_sha256
from arena.leaderboard.loop import recompute_once
from arena.leaderboard.service import recompute
from arena.leaderboard.tables import SnapshotVoteSet
from arena.settings import Settings
from arena.tables import metadata
from arena.votes.service import exclude
from arena.votes.tables import Vote
from tests.snapshots.support import (
    add_models,
    download,
    jsonl_rows,
    new_vote,
    run_arena,
    seed_votes,
    sha256,
)


async def assert_verifies(
    client: httpx.AsyncClient, snap: int, first: bytes, db: str, tmp_path: Path
) -> None:
    """The download is byte for byte what it was, and `arena snapshots verify` agrees."""
    meta = (await client.get(f"/api/v1/snapshots/{snap}")).json()
    again = await download(client, snap, "jsonl")
    assert again == first and sha256(again) == meta["sha256"]
    path = tmp_path / f"snap{snap}.jsonl"
    path.write_bytes(again)
    proc = run_arena("snapshots", "verify", str(snap), str(path), db=db)
    assert proc.returncode == 0, proc.stderr
    assert "match" in proc.stdout


async def test_later_votes_and_exclusions_leave_an_old_snapshot_alone(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    factory = app.state.sessionmaker
    with session_scope(factory) as s:
        counted = [v.id for v in seed_votes(s, 120) if v.included]
    first = recompute_once(factory, app.state.settings)
    assert first is not None
    original = await download(client, first, "jsonl")

    with session_scope(factory) as s:
        seed_votes(s, 40, seed=8, tag="later")
        for vid in counted[:5]:
            vote = s.get(Vote, vid)
            assert vote is not None
            exclude(s, vote, "abuse_pattern", "judged later")
    second = recompute_once(factory, app.state.settings)
    assert second is not None and second != first

    await assert_verifies(client, first, original, database_url, tmp_path)
    old_rows = {r["vote_id"]: r for r in jsonl_rows(original)}
    new_ids = {r["vote_id"] for r in jsonl_rows(await download(client, second, "jsonl"))}
    for vid in counted[:5]:
        assert old_rows[vid]["included"] and old_rows[vid]["exclusion_reason"] == ""
        assert vid not in new_ids
    assert max(new_ids) > max(old_rows)
    live = {
        r["vote_id"]: r for r in jsonl_rows((await client.get("/api/v1/exports/votes")).content)
    }
    for vid in counted[:5]:
        assert live[vid]["exclusion_reason"] == "abuse_pattern" and not live[vid]["included"]
        assert live[vid]["excluded_at"] > live[vid]["tstamp"]
    await assert_verifies(
        client, second, await download(client, second, "jsonl"), database_url, tmp_path
    )


def test_digest_continues_from_the_first_changed_vote(session: Session) -> None:
    digests = Digests()
    seed_votes(session, 50)
    one = recompute(session, None, digests=digests)
    assert one is not None and digests.last_pass == "full"
    more = seed_votes(session, 30, seed=9, tag="more")
    two = recompute(session, None, digests=digests)
    assert two is not None and digests.last_pass == "continued"
    assert digests.last_rows == sum(v.included for v in more)
    appended = digests.last_rows
    # From the checkpoint before it (the end of the first set): the tail minus that vote.
    assert more[-1].included
    exclude(session, more[-1], "abuse_pattern", "recent")
    three = recompute(session, None, digests=digests)
    assert three is not None and digests.last_pass == "continued"
    assert digests.last_rows == appended - 1
    earliest = session.get(Vote, 2)
    assert earliest is not None
    exclude(session, earliest, "abuse_pattern", "long ago")
    four = recompute(session, None, digests=digests)
    assert four is not None and digests.last_pass == "full"
    for snap in (two, three, four):
        vote_set = session.get(SnapshotVoteSet, snap.vote_set_id)
        assert vote_set is not None
        assert snap.sha256 == jsonl_sha256(session, vote_set.runs, VOTE_COLUMNS)
    assert len({one.sha256, two.sha256, three.sha256, four.sha256}) == 4


@pytest.mark.parametrize(
    ("old", "new", "first"),
    [
        ([[1, 5]], [[1, 5]], NEVER),
        ([[1, 5]], [[1, 9]], 6),
        ([[1, 5]], [[1, 5], [8, 9]], 8),
        ([[1, 5], [8, 9]], [[1, 2], [4, 5], [8, 9]], 3),
        ([[1, 5]], [[2, 5]], 1),
        ([[1, 5], [7, 7]], [[1, 5]], 7),
    ],
)
def test_first_difference(old: list[list[int]], new: list[list[int]], first: int) -> None:
    assert first_difference(old, new) == first == first_difference(new, old)


@pytest.fixture
async def pg_app(pg_url: str) -> AsyncIterator[FastAPI]:
    settings = Settings(
        database_url=pg_url,
        secret_key="test-secret-key",  # type: ignore[arg-type]
        health_interval_seconds=3600,
        recompute_seconds=3600,
    )
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            yield app
    finally:
        engine = make_engine(pg_url)
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()


async def test_a_vote_that_commits_late_is_not_in_the_snapshot(
    pg_app: FastAPI, pg_url: str, tmp_path: Path
) -> None:
    factory = pg_app.state.sessionmaker
    with session_scope(factory) as s:
        ids = add_models(s)
        seed_votes(s, 30)
    late = factory()
    try:
        # Takes its id now, commits only after the recompute has run.
        slow = new_vote(late, ids, "late", "Gamma-1B", "Alpha-7B", "A")
        with session_scope(factory) as s:
            after = new_vote(s, ids, "after", "Alpha-7B", "Beta-3B", "A").id
        assert slow.id < after
        snap = recompute_once(factory, pg_app.state.settings)
        assert snap is not None
        late.commit()
        slow_id = slow.id
    finally:
        late.close()

    transport = httpx.ASGITransport(app=pg_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        first = await download(client, snap, "jsonl")
        meta = (await client.get(f"/api/v1/snapshots/{snap}")).json()
        ids_seen = {r["vote_id"] for r in jsonl_rows(first)}
        assert after in ids_seen and slow_id not in ids_seen
        assert meta["vote_watermark"] == after > slow_id
        newer = recompute_once(factory, pg_app.state.settings)
        assert newer is not None
        assert slow_id in {r["vote_id"] for r in jsonl_rows(await download(client, newer, "jsonl"))}
        await assert_verifies(client, snap, first, pg_url, tmp_path)
