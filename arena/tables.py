"""Every table of the arena, imported in one place so the metadata is complete."""

from arena.battles.tables import Battle, BattleResponse, BattleTurn, SamplingDraw
from arena.db import Base
from arena.leaderboard.tables import LeaderboardSnapshot, SnapshotRow
from arena.models.tables import ModelEndpoint
from arena.owners.tables import Owner
from arena.votes.tables import Vote, VoteExclusion

metadata = Base.metadata

__all__ = [
    "Battle",
    "BattleResponse",
    "BattleTurn",
    "LeaderboardSnapshot",
    "ModelEndpoint",
    "Owner",
    "SamplingDraw",
    "SnapshotRow",
    "Vote",
    "VoteExclusion",
    "metadata",
]
