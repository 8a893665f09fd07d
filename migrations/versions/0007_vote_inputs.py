"""vote inputs computed at turn close; votes indexed by network and time

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Turns stored before this revision keep null: a vote on them scans the answers as
    # before (arena/votes/service.py), so no stored row is rewritten.
    with op.batch_alter_table("battle_turns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vote_inputs", sa.JSON(), nullable=True))
    # The composite index serves every lookup the single-column one did.
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_votes_network_hash"))
        batch_op.create_index(
            "ix_votes_network_hash_created_at", ["network_hash", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.drop_index("ix_votes_network_hash_created_at")
        batch_op.create_index(batch_op.f("ix_votes_network_hash"), ["network_hash"], unique=False)
    with op.batch_alter_table("battle_turns", schema=None) as batch_op:
        batch_op.drop_column("vote_inputs")
