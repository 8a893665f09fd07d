"""An owner's own models with the numbers the public pages compute for them.

The figures come from the same queries as the public model page (`arena.web.stats`) and the
board (`arena.leaderboard.views`); what only an owner sees is added here: activity per day,
serving latency measured on real battles, and the drift record.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from arena.battles.tables import Battle, BattleResponse, BattleTurn
from arena.leaderboard.views import current_board, model_history
from arena.models.schemas import ModelView
from arena.models.tables import ModelEndpoint
from arena.votes.tables import Vote
from arena.web import stats

# Latency is a rolling figure: the most recent answers say how the endpoint serves now.
LATENCY_WINDOW = 1000


def owner_models(session: Session, owner_id: int) -> list[dict[str, Any]]:
    """Newest first; `performance` once the model has been in the battle pool."""
    models = list(
        session.scalars(
            select(ModelEndpoint)
            .where(ModelEndpoint.owner_id == owner_id)
            .order_by(ModelEndpoint.id.desc())
        )
    )
    board: dict[str, Any] | None = None
    out = []
    for model in models:
        performance = None
        if model.status in stats.PUBLIC_STATUSES:
            board = board if board is not None else current_board(session)
            performance = _performance(session, model, board)
        view = ModelView.of(model).model_dump()
        out.append({**view, "aliases": list(model.aliases or []), "performance": performance})
    return out


def _performance(session: Session, model: ModelEndpoint, board: dict[str, Any]) -> dict[str, Any]:
    rows = board["models"]
    current = next((r for r in rows if r["model"] == model.name), None)
    return {
        "counts": stats.counts(session, model),
        "rating": None
        if current is None
        else {
            "rating": current["rating"],
            "ci_low": current["ci_low"],
            "ci_high": current["ci_high"],
            "rank": current["rank"],
            "rank_ub": current["rank_ub"],
            "models": len(rows),
            "snapshot_id": board["snapshot_id"],
        },
        "history": model_history(session, model.name)["history"],
        "activity": activity(session, model.id),
        "win_rates": [
            {
                "opponent": r.opponent,
                "wins": r.wins,
                "losses": r.losses,
                "ties": r.ties,
                "bothbad": r.bothbad,
                "votes": r.votes,
                "win_rate": r.win_rate,
            }
            for r in stats.head_to_head(session, model)
        ],
        "latency": latency(session, model.id),
        "drift": drift(model),
    }


def activity(session: Session, model_id: int) -> list[dict[str, Any]]:
    """Battles, votes and counted votes per UTC day, oldest first."""
    battle_day = func.date(Battle.created_at)  # date() exists on SQLite and PostgreSQL
    battles = session.execute(
        select(battle_day, func.count())
        .where(or_(Battle.model_a_id == model_id, Battle.model_b_id == model_id))
        .group_by(battle_day)
    ).all()
    vote_day = func.date(Vote.created_at)
    votes = session.execute(
        select(vote_day, Vote.included, func.count())
        .where(or_(Vote.model_a_id == model_id, Vote.model_b_id == model_id))
        .group_by(vote_day, Vote.included)
    ).all()
    days: dict[str, dict[str, int]] = {}

    def cell(day: Any) -> dict[str, int]:
        return days.setdefault(str(day)[:10], {"battles": 0, "votes": 0, "votes_included": 0})

    for day, n in battles:
        cell(day)["battles"] += n
    for day, included, n in votes:
        c = cell(day)
        c["votes"] += n
        if included:
            c["votes_included"] += n
    return [{"day": day, **days[day]} for day in sorted(days)]


def latency(session: Session, model_id: int) -> dict[str, Any]:
    """Time to first token, answer time and decode speed over the latest finished answers."""
    mine = or_(
        and_(BattleResponse.side == "A", Battle.model_a_id == model_id),
        and_(BattleResponse.side == "B", Battle.model_b_id == model_id),
    )
    rows = session.execute(
        select(BattleResponse.ttft_ms, BattleResponse.duration_ms, BattleResponse.completion_tokens)
        .join(BattleTurn, BattleTurn.id == BattleResponse.turn_id)
        .join(Battle, Battle.id == BattleTurn.battle_id)
        .where(mine, BattleResponse.status == "done")
        .order_by(BattleResponse.id.desc())
        .limit(LATENCY_WINDOW)
    ).all()
    ttft = np.array([r[0] for r in rows if r[0] is not None], dtype=float)
    duration = np.array([r[1] for r in rows if r[1] is not None], dtype=float)
    speed = np.array(
        [r[2] / (r[1] / 1000) for r in rows if r[1] and r[2] is not None and r[1] > 0], dtype=float
    )

    def pct(values: np.ndarray[Any, Any], q: float) -> float | None:
        return round(float(np.percentile(values, q)), 1) if values.size else None

    return {
        "answers": len(rows),
        "ttft_ms_p50": pct(ttft, 50),
        "ttft_ms_p90": pct(ttft, 90),
        "duration_ms_p50": pct(duration, 50),
        "duration_ms_p90": pct(duration, 90),
        "tokens_per_second_p50": pct(speed, 50),
    }


def drift(model: ModelEndpoint) -> list[dict[str, Any]]:
    """Suspensions for drift, newest first. The model row keeps only the latest one, with
    its evidence (the report's `drift`, when the canary checks recorded one)."""
    report = model.report or {}
    reason = report.get("suspended_reason")
    if model.suspended_at is None or not reason:
        return []
    evidence = report.get("drift")
    return [
        {
            "at": model.suspended_at,
            "reason": reason,
            "evidence": evidence if isinstance(evidence, dict) else None,
        }
    ]
