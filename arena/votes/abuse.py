"""Exclusion rules that judge a vote's client and network against the arena itself.

Two rules, both reason ``abuse_pattern`` (README "Exclusion rules"):

- the board test: the client's votes against the latest headline board's predictions,
  a sequential likelihood-ratio test (:mod:`ratings.outliers`). It flags only choices
  that are improbable under the board, so agreeing with the board never counts against
  anyone. When it flags, the client's earlier votes it read are excluded too.
- the burst rule: a network casting more than a share of the last hour's votes, once the
  hour is busy enough for shares to mean something; trusted networks are exempt.

A flagged vote is kept and excluded (the caller records it); nothing is deleted.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Integer, Select, bindparam, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import ScalarSelect

from arena.clients import ClientIdentity
from arena.db import utcnow
from arena.leaderboard.tables import LeaderboardSnapshot, SnapshotRow
from arena.settings import Settings
from arena.votes.tables import Vote, VoteExclusion
from ratings.outliers import board_evidence, predicted_score

REASON = "abuse_pattern"
#: The board test reads at most this many of a client's latest votes, so a prolific
#: client costs the vote path a bounded query.
HISTORY = 1000
# What a vote gives side A, ties of either kind as half a win (the board's convention).
_SCORE_A = {"A": 1.0, "B": 0.0, "tie": 0.5, "bothbad": 0.5}


@dataclass(frozen=True)
class Flag:
    reason: str
    detail: str
    # Earlier votes of the same client to exclude with this flag (the pattern spans them).
    earlier_vote_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Board:
    """Ratings and interval half-widths (Elo) by model id, of one headline snapshot."""

    snapshot_id: int
    rating: dict[int, float]
    half_width: dict[int, float]


_LATEST = (
    select(LeaderboardSnapshot.id, LeaderboardSnapshot.computed_at, LeaderboardSnapshot.sha256)
    .where(LeaderboardSnapshot.view == "default", LeaderboardSnapshot.category.is_(None))
    .order_by(LeaderboardSnapshot.id.desc())
    .limit(1)
)


class _BoardCache:
    """The few latest boards, keyed by what identifies a snapshot across databases."""

    def __init__(self, size: int = 8) -> None:
        self._boards: dict[tuple[int, datetime, str], Board] = {}
        self._size = size
        self._lock = threading.Lock()

    def get(self, session: Session) -> Board | None:
        latest = session.connection().execute(_LATEST).first()
        if latest is None:
            return None
        key = (latest.id, latest.computed_at, latest.sha256)
        with self._lock:
            board = self._boards.get(key)
        if board is not None:
            return board
        rows = session.execute(
            select(
                SnapshotRow.model_id, SnapshotRow.rating, SnapshotRow.ci_low, SnapshotRow.ci_high
            ).where(SnapshotRow.snapshot_id == latest.id)
        ).all()
        board = Board(
            latest.id,
            {r.model_id: r.rating for r in rows},
            {r.model_id: max(r.ci_high - r.ci_low, 0.0) / 2 for r in rows},
        )
        with self._lock:
            if len(self._boards) >= self._size:
                self._boards.pop(next(iter(self._boards)))
            self._boards[key] = board
        return board


boards = _BoardCache()


def board_threshold(settings: Settings) -> float:
    """``log M`` at which the board test flags: ``ln(1 / false-positive rate)``."""
    return math.log(1.0 / settings.abuse_false_positive_rate)


# Built once (per-vote statements; building them costs more than running them).
_HISTORY = (
    select(
        Vote.id,
        Vote.model_a_id,
        Vote.model_b_id,
        Vote.winner,
        select(VoteExclusion.id)
        .where(VoteExclusion.vote_id == Vote.id, VoteExclusion.reason == REASON)
        .exists()
        .label("done"),
    )
    .where(Vote.client_hash == bindparam("client"))
    .order_by(Vote.id.desc())
    .limit(HISTORY - 1)
)


def client_against_board(
    session: Session, settings: Settings, client_hash: str, vote: Vote, board: Board
) -> Flag | None:
    """The board test over the client's latest votes and ``vote`` (not yet in the session)."""
    rated = board.rating
    if vote.model_a_id not in rated or vote.model_b_id not in rated:
        return None  # this vote adds nothing, so the verdict cannot change with it
    earlier = session.connection().execute(_HISTORY, {"client": client_hash}).all()[::-1]
    used = [r for r in earlier if r.model_a_id in rated and r.model_b_id in rated]
    a = np.array([r.model_a_id for r in used] + [vote.model_a_id], dtype=np.int64)
    b = np.array([r.model_b_id for r in used] + [vote.model_b_id], dtype=np.int64)
    score = np.array([_SCORE_A[r.winner] for r in used] + [_SCORE_A[vote.winner]])
    p = predicted_score(
        [rated[k] for k in a],
        [rated[k] for k in b],
        [board.half_width[k] for k in a],
        [board.half_width[k] for k in b],
    )
    evidence = board_evidence(a, b, p, score)
    threshold = board_threshold(settings)
    if not evidence.flagged(threshold):
        return None
    return Flag(
        REASON,
        f"log-likelihood ratio {evidence.log_lr:.1f} over {evidence.votes} votes against "
        f"the board of snapshot {board.snapshot_id} (threshold {threshold:.1f})",
        tuple(r.id for r in used if not r.done),
    )


#: The burst rule counts at most this many of a network's votes of the hour at first; a
#: network with more is counted in full (it pays for its own volume, nobody else does).
BURST_SAMPLE = 200


def _count(query: Select[Any], cap: str | None) -> ScalarSelect[Any]:
    rows = query.limit(bindparam(cap, type_=Integer)) if cap else query
    return select(func.count()).select_from(rows.subquery()).scalar_subquery()


_RECENT = select(Vote.id).where(Vote.created_at >= bindparam("since"))
_RECENT_MINE = _RECENT.where(Vote.network_hash == bindparam("network"))
_BURST = select(_count(_RECENT_MINE, "mine_cap"), _count(_RECENT, "total_cap"))
_MINE_ALL = select(_count(_RECENT_MINE, None))
_TOTAL = select(_count(_RECENT, "total_cap"))


def network_burst(session: Session, settings: Settings, network_hash: str) -> Flag | None:
    """A network casting more than its share of a busy hour's votes (this one included).

    Neither count needs the whole hour: a network with fewer than ``m`` earlier votes can
    hold more than the share only if the hour has fewer than ``m / share`` votes, so all
    votes are counted only up to that bound; above it the verdict is "no burst" whatever
    the exact total. Counts that stop short of their bound are exact, so a flag's detail is.
    """
    share = settings.abuse_burst_share
    conn = session.connection()
    args = {"since": utcnow() - timedelta(hours=1), "network": network_hash}

    def total_cap(mine_votes: int) -> int:
        return math.ceil(mine_votes / share) + 1

    mine, total = conn.execute(
        _BURST, {**args, "mine_cap": BURST_SAMPLE, "total_cap": total_cap(BURST_SAMPLE)}
    ).one()
    if mine >= BURST_SAMPLE:
        mine = conn.execute(_MINE_ALL, args).scalar_one()
        total = conn.execute(_TOTAL, {**args, "total_cap": total_cap(int(mine) + 1)}).scalar_one()
    total, mine = int(total) + 1, int(mine) + 1
    if total < settings.abuse_burst_min_votes or mine / total <= share:
        return None
    return Flag(
        REASON,
        f"{mine} of the last hour's {total} votes ({mine / total:.1%}) came from one network "
        f"(limit {share:.0%} once an hour has {settings.abuse_burst_min_votes} votes)",
    )


def check_abuse(
    session: Session, settings: Settings, who: ClientIdentity, vote: Vote
) -> list[Flag]:
    """Flags on `who` casting `vote`; `vote` must not be in the session yet (it is counted
    once here, not again among the earlier votes). Both rules share one reason, so when
    both fire they come back as one flag carrying both details."""
    found = []
    board = boards.get(session)
    if board is not None:
        found.append(client_against_board(session, settings, who.client_hash, vote, board))
    if not who.trusted:
        found.append(network_burst(session, settings, who.network_hash))
    flags = [f for f in found if f is not None]
    if len(flags) < 2:
        return flags
    return [
        Flag(
            REASON,
            "; ".join(f.detail for f in flags),
            tuple(k for f in flags for k in f.earlier_vote_ids),
        )
    ]
