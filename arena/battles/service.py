"""Battles: drawing a pair, finding a battle, checking whose it is, loading its models.

Every function takes the request's session and only adds/flushes; the caller commits.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.battles.pairing import draw_pair
from arena.battles.tables import Battle, BattleResponse, BattleTurn, SamplingDraw
from arena.clients import ClientIdentity
from arena.errors import ArenaError
from arena.models.service import battle_pool
from arena.models.tables import ModelEndpoint


def not_found() -> ArenaError:
    return ArenaError(404, "battle_not_found", "no battle with this id")


def not_yours() -> ArenaError:
    return ArenaError(403, "not_your_battle", "this battle belongs to another client")


def already_voted() -> ArenaError:
    return ArenaError(409, "already_voted", "this battle already has a vote; start a new one")


def create_battle(session: Session, identity: ClientIdentity, system_message: str) -> Battle:
    pool = battle_pool(session)
    if len(pool) < 2:
        raise ArenaError(
            503, "no_models_available", "fewer than two models are available right now; try later"
        )
    draw = draw_pair(session, pool)
    first, second = draw.pair
    # Which model sits on side A is a fair coin, independent of the draw.
    if secrets.randbits(1):
        first, second = second, first
    battle = Battle(
        id=secrets.token_hex(16),
        model_a_id=first.id,
        model_b_id=second.id,
        system_message=system_message,
        client_hash=identity.client_hash,
        ip_hash=identity.ip_hash,
        network_hash=identity.network_hash,
    )
    session.add(battle)
    session.flush()
    session.add(
        SamplingDraw(
            battle_id=battle.id,
            model_a_id=first.id,
            model_b_id=second.id,
            probability=draw.probability,
            pool_size=len(pool),
        )
    )
    session.flush()
    return battle


def get_battle(session: Session, battle_id: str, *, lock: bool = False) -> Battle:
    if len(battle_id) != 32 or not all(c in "0123456789abcdef" for c in battle_id):
        raise not_found()
    stmt = select(Battle).where(Battle.id == battle_id)
    if lock:
        stmt = stmt.with_for_update()
    battle = session.scalar(stmt)
    if battle is None:
        raise not_found()
    return battle


def owned_battle(
    session: Session, battle_id: str, client_hash: str | None, *, lock: bool = False
) -> Battle:
    """The battle, if `client_hash` created it. An unknown id is 404 for every caller
    (with or without a cookie) before any 403, so ids cannot be probed by the error."""
    battle = get_battle(session, battle_id, lock=lock)
    if client_hash is None or battle.client_hash != client_hash:
        raise not_yours()
    return battle


def battle_models(session: Session, battle: Battle) -> dict[str, ModelEndpoint]:
    """The two models of a battle by side: {"A": ..., "B": ...}."""
    ids = (battle.model_a_id, battle.model_b_id)
    found = {
        m.id: m for m in session.scalars(select(ModelEndpoint).where(ModelEndpoint.id.in_(ids)))
    }
    return {"A": found[battle.model_a_id], "B": found[battle.model_b_id]}


def turns_of(session: Session, battle_id: str) -> list[BattleTurn]:
    stmt = select(BattleTurn).where(BattleTurn.battle_id == battle_id).order_by(BattleTurn.idx)
    return list(session.scalars(stmt))


def responses_of(session: Session, turn_ids: list[int]) -> dict[tuple[int, str], BattleResponse]:
    if not turn_ids:
        return {}
    rows = session.scalars(select(BattleResponse).where(BattleResponse.turn_id.in_(turn_ids)))
    return {(r.turn_id, r.side): r for r in rows}
