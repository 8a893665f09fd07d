"""Running Alembic from code: upgrade, and telling whether a database is at head."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

# Alembic is configured here, not by an alembic.ini: the script folder is the installed
# package `migrations` (env.py, script.py.mako, versions/), wherever pip put it.
MIGRATIONS_DIR = Path(str(files("migrations")))


class NotMigratedError(RuntimeError):
    def __init__(self) -> None:
        super().__init__("database not migrated: run `arena db upgrade`")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def head_revision() -> str | None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def require_migrated(engine: Engine) -> None:
    if current_revision(engine) != head_revision():
        raise NotMigratedError()
