"""endpoint fingerprints, canaries and identity aliases

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import arena.db

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "endpoint_fingerprints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("created_at", arena.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("listing", sa.JSON(), nullable=False),
        sa.Column("canaries", sa.JSON(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("max_tokens", sa.Integer(), nullable=False),
        sa.Column("checked_at", arena.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_check", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["model_endpoints.id"],
            name=op.f("fk_endpoint_fingerprints_model_id_model_endpoints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_fingerprints")),
    )
    with op.batch_alter_table("endpoint_fingerprints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_endpoint_fingerprints_model_id"), ["model_id"], unique=False
        )
    # Existing rows: the owner aliases were never kept apart; they start empty.
    with op.batch_alter_table("model_endpoints", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("owner_aliases", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("model_endpoints", schema=None) as batch_op:
        batch_op.drop_column("owner_aliases")
    with op.batch_alter_table("endpoint_fingerprints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_endpoint_fingerprints_model_id"))
    op.drop_table("endpoint_fingerprints")
