"""The per-vote read a recompute makes for the style and category boards, and the cache that
lets the next recompute read only the new votes."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.battles.tables import Battle
from arena.leaderboard.arrays import VoteArrays, VoteCache, read_vote_arrays
from arena.leaderboard.service import recompute
from arena.leaderboard.tables import LeaderboardSnapshot, SnapshotRow
from arena.leaderboard.voteset import gather
from arena.votes.tables import Vote
from tests.boards.support import seed


def same(x: VoteArrays, y: VoteArrays) -> None:
    for name in ("ids", "a", "b", "outcome", "features_a", "features_b"):
        assert np.array_equal(getattr(x, name), getattr(y, name)), name
    assert [x.tag_sets[k] for k in x.tag_code] == [y.tag_sets[k] for k in y.tag_code]


def test_the_cache_reads_only_new_votes_and_agrees_with_a_full_read(session: Session) -> None:
    seeded = seed(session, 80)
    cache = VoteCache()
    first = read_vote_arrays(session, gather(session, {}).runs, cache)
    assert cache.last_read == "full" and cache.last_rows == 80
    counted = [v for v in seeded.votes if v.included]
    assert first.ids.tolist() == [v.id for v in counted]
    assert first.categories() == {
        t: sum(t in v.categories.split(",") for v in counted)
        for t in {t for v in counted for t in v.categories.split(",") if t}
    }
    tokens = {v.id: (v.a_tokens, v.b_tokens, v.a_bold, v.b_bold) for v in counted}
    for k, vid in enumerate(first.ids.tolist()):
        a, b, bold_a, bold_b = tokens[vid]
        assert (first.features_a[k, 0], first.features_b[k, 0]) == (a, b)
        assert (first.features_a[k, 3], first.features_b[k, 3]) == (bold_a, bold_b)

    more = seed(session, 30, rng_seed=3, ids=seeded.ids, key="m")
    runs = gather(session, {}).runs
    second = read_vote_arrays(session, runs, cache)
    assert cache.last_read == "appended" and cache.last_rows == 30
    same(second, read_vote_arrays(session, runs))
    assert second.size == sum(v.included for v in seeded.votes + more.votes)

    # A vote that commits late with an id below those read is in the runs, not the cache:
    # the count falls short and everything is read again.
    top = max(v.id for v in more.votes)
    vote_with_id(session, seeded.ids, top + 10)
    read_vote_arrays(session, gather(session, {}).runs, cache)
    assert cache.last_read == "appended" and cache.last_rows == 1
    vote_with_id(session, seeded.ids, top + 5)
    runs = gather(session, {}).runs
    third = read_vote_arrays(session, runs, cache)
    assert cache.last_read == "full"
    same(third, read_vote_arrays(session, runs))
    assert {top + 5, top + 10} <= set(third.ids.tolist())


def vote_with_id(session: Session, ids: dict[str, int], vote_id: int) -> None:
    battle = Battle(
        id=f"late{vote_id}".rjust(32, "0"),
        model_a_id=ids["Alpha-7B"],
        model_b_id=ids["Beta-3B"],
        system_message="s",
        client_hash="c",
        ip_hash="i",
        network_hash="n",
    )
    session.add(battle)
    session.flush()
    session.add(
        Vote(
            id=vote_id,
            battle_id=battle.id,
            winner="A",
            model_a_id=ids["Alpha-7B"],
            model_b_id=ids["Beta-3B"],
            turns=1,
            client_hash="c",
            ip_hash="i",
            network_hash="n",
            categories="coding",
        )
    )
    session.flush()


def test_recompute_with_a_cache_gives_the_same_boards(session: Session) -> None:
    seeded = seed(session, 120)
    cache = VoteCache()
    assert recompute(session, None, cache=cache) is not None
    seed(session, 40, rng_seed=9, ids=seeded.ids, key="n")
    cached = recompute(session, None, cache=cache)
    assert cached is not None and cache.last_read == "appended" and cache.last_rows == 40
    # Other settings force a new recompute of the same votes, read without a cache.
    fresh = recompute(session, ("Beta-3B", 1000.0))
    assert fresh is not None and fresh.vote_set_id == cached.vote_set_id
    boards = {}
    for headline in (cached, fresh):
        rows = session.execute(
            select(LeaderboardSnapshot.view, LeaderboardSnapshot.category, SnapshotRow)
            .join(SnapshotRow, SnapshotRow.snapshot_id == LeaderboardSnapshot.id)
            .where(LeaderboardSnapshot.headline_id == headline.id)
        ).all()
        boards[headline.id] = {(v, c, r.model): r for v, c, r in rows}
    old, new = boards[cached.id], boards[fresh.id]
    assert old.keys() == new.keys() and len({k[:2] for k in old}) > 2
    for key, row in old.items():
        # the anchor only shifts each board; gaps and everything else are the same
        assert (row.rank, row.battles, row.robustness) == (
            new[key].rank,
            new[key].battles,
            new[key].robustness,
        )
