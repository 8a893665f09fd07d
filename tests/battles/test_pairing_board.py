"""Pairing reads the headline board, never a style or category board stored after it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from arena.battles.pairing import _latest_rows
from arena.leaderboard.tables import LeaderboardSnapshot, SnapshotRow
from arena.models.service import OperatorModel, add_operator_model


def _board(session: Session, view: str, category: str | None, rows: dict[int, float]) -> int:
    snap = LeaderboardSnapshot(
        method="bradley-terry",
        vote_watermark=0,
        sha256="0" * 64,
        votes_included=0,
        view=view,
        category=category,
    )
    session.add(snap)
    session.flush()
    for model_id, rating in rows.items():
        session.add(
            SnapshotRow(
                snapshot_id=snap.id,
                model_id=model_id,
                model=f"m{model_id}",
                rating=rating,
                ci_low=rating - 10,
                ci_high=rating + 10,
                rank=1,
                rank_ub=1,
                battles=100,
            )
        )
    session.flush()
    return snap.id


def test_pairing_uses_the_latest_headline_board(session: Session) -> None:
    ids = [
        add_operator_model(
            session, OperatorModel(name=n, base_url="http://127.0.0.1:9/v1", api_model=n)
        ).id
        for n in ("alpha", "beta", "gamma")
    ]
    assert _latest_rows(session) == {}
    _board(session, "default", None, {ids[0]: 1000.0, ids[1]: 1010.0, ids[2]: 990.0})
    # Boards of the same recompute, stored after the headline one.
    _board(session, "style", None, {ids[0]: 1500.0})
    _board(session, "default", "multi_turn", {ids[1]: 2000.0})
    rows = _latest_rows(session)
    assert sorted(rows) == sorted(ids)
    assert rows[ids[0]].rating == 1000.0
    assert rows[ids[1]].rating == 1010.0
