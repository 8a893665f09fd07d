"""Serving speed per model, measured from the arena's own battles, for the board's columns.

Computed once per recompute over the latest `WINDOW` finished answers (newest by id: a
range scan of the primary key, so the cost does not grow with the arena's history) and
stored in every board's rows. Stored rather than queried on each board view because the
board is read far more often than it is recomputed, and because a stored figure dates it:
the rating history then carries the speed each model had at the time. Time to first token
is as the proxy measured it; tokens per second is completion tokens over the answer's whole
duration, as the owner page reports it.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arena.battles.tables import Battle, BattleResponse, BattleTurn

WINDOW = 100_000


def serving_speed(
    session: Session, window: int = WINDOW
) -> dict[int, tuple[float | None, float | None]]:
    """Model id -> (median time to first token in ms, median tokens per second)."""
    top = session.scalar(select(func.max(BattleResponse.id)))
    if top is None:
        return {}
    rows = session.execute(
        select(
            BattleResponse.side,
            Battle.model_a_id,
            Battle.model_b_id,
            BattleResponse.ttft_ms,
            BattleResponse.completion_tokens,
            BattleResponse.duration_ms,
        )
        .join(BattleTurn, BattleTurn.id == BattleResponse.turn_id)
        .join(Battle, Battle.id == BattleTurn.battle_id)
        .where(BattleResponse.id > top - window, BattleResponse.status == "done")
    ).all()
    ttft: dict[int, list[float]] = defaultdict(list)
    speed: dict[int, list[float]] = defaultdict(list)
    for side, a, b, first, tokens, duration in rows:
        model = a if side == "A" else b
        if first is not None:
            ttft[model].append(float(first))
        if tokens is not None and duration:
            speed[model].append(tokens / (duration / 1000.0))

    def median(values: list[float]) -> float | None:
        return round(float(np.median(values)), 1) if values else None

    return {m: (median(ttft.get(m, [])), median(speed.get(m, []))) for m in {*ttft, *speed}}
