"""snapshot vote sets fixed at birth; exclusion times

Every snapshot points at the set of vote ids its recompute counted, and records its view,
category and the `arena ratings fit` arguments that reproduce it. Exclusion times already
live in `vote_exclusions.created_at`.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import arena.db

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "snapshot_vote_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("runs", sa.JSON(), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("created_at", arena.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshot_vote_sets")),
    )
    # batch mode: SQLite adds a foreign key only by rebuilding the table.
    with op.batch_alter_table("leaderboard_snapshots", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("view", sa.String(length=40), server_default="default", nullable=False)
        )
        batch_op.add_column(sa.Column("category", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("fit_args", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("vote_set_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("marks", sa.JSON(), server_default="{}", nullable=False))
        batch_op.create_index(
            batch_op.f("ix_leaderboard_snapshots_vote_set_id"), ["vote_set_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_leaderboard_snapshots_vote_set_id_snapshot_vote_sets"),
            "snapshot_vote_sets",
            ["vote_set_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("leaderboard_snapshots", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_leaderboard_snapshots_vote_set_id_snapshot_vote_sets"),
            type_="foreignkey",
        )
        batch_op.drop_index(batch_op.f("ix_leaderboard_snapshots_vote_set_id"))
        for name in ("marks", "vote_set_id", "fit_args", "category", "view"):
            batch_op.drop_column(name)
    op.drop_table("snapshot_vote_sets")
