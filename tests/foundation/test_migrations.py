"""The Alembic migrations and the SQLAlchemy tables describe the same schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from arena.migrate import current_revision, head_revision
from arena.tables import metadata


def test_models_and_migrations_do_not_drift(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, metadata)
    assert diff == [], f"tables and migrations differ; generate a migration: {diff}"


def test_database_is_at_head(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()


def test_every_table_exists(engine: Engine) -> None:
    names = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= names


def test_one_vote_per_battle_is_a_database_constraint(engine: Engine) -> None:
    uniques = inspect(engine).get_unique_constraints("votes")
    assert any(u["column_names"] == ["battle_id"] for u in uniques)
