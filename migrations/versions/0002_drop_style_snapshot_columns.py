"""drop the never-written style columns of snapshot rows

Style views will be boards of their own (a snapshot per view), not extra columns.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("style_rating", sa.Double()),
    ("style_ci_low", sa.Double()),
    ("style_ci_high", sa.Double()),
    ("style_rank", sa.Integer()),
)


def upgrade() -> None:
    # batch mode: SQLite cannot drop columns in place on every supported version.
    with op.batch_alter_table("snapshot_rows", schema=None) as batch_op:
        for name, _ in COLUMNS:
            batch_op.drop_column(name)


def downgrade() -> None:
    with op.batch_alter_table("snapshot_rows", schema=None) as batch_op:
        for name, type_ in COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
