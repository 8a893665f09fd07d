"""board views: every (view, category) board a snapshot, per-row robustness and serving
speed, style coefficients, model parameter counts

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing snapshots are headline boards (headline_id null); their rows get nulls for
    # the new figures, so every stored number stays what it was.
    with op.batch_alter_table("leaderboard_snapshots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("headline_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("style_coefficients", sa.JSON(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_leaderboard_snapshots_headline_id"), ["headline_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_leaderboard_snapshots_headline_id_leaderboard_snapshots"),
            "leaderboard_snapshots",
            ["headline_id"],
            ["id"],
        )
    with op.batch_alter_table("snapshot_rows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("robustness", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("ttft_ms_median", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("tokens_per_s_median", sa.Double(), nullable=True))
    with op.batch_alter_table("model_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parameters", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_endpoints", schema=None) as batch_op:
        batch_op.drop_column("parameters")
    with op.batch_alter_table("snapshot_rows", schema=None) as batch_op:
        batch_op.drop_column("tokens_per_s_median")
        batch_op.drop_column("ttft_ms_median")
        batch_op.drop_column("robustness")
    with op.batch_alter_table("leaderboard_snapshots", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_leaderboard_snapshots_headline_id_leaderboard_snapshots"),
            type_="foreignkey",
        )
        batch_op.drop_index(batch_op.f("ix_leaderboard_snapshots_headline_id"))
        batch_op.drop_column("style_coefficients")
        batch_op.drop_column("headline_id")
