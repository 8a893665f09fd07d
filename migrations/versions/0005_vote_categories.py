"""vote categories and prompt counts for duplicate_prompt

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing votes and turns are not classified after the fact: they keep "" (no tags), so
    # no stored vote changes and old snapshot downloads stay byte-identical.
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("categories", sa.Text(), server_default=sa.text("''"), nullable=False)
        )
    with op.batch_alter_table("battle_turns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("categories", sa.Text(), server_default=sa.text("''"), nullable=False)
        )
    # Counting starts at this revision: votes cast before it are not counted per prompt.
    op.create_table(
        "prompt_counts",
        sa.Column("prompt_hash", sa.String(length=64), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prompt_hash", name=op.f("pk_prompt_counts")),
    )
    with op.batch_alter_table("prompt_counts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prompt_counts_votes"), ["votes"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("prompt_counts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prompt_counts_votes"))
    op.drop_table("prompt_counts")
    with op.batch_alter_table("battle_turns", schema=None) as batch_op:
        batch_op.drop_column("categories")
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.drop_column("categories")
