"""Schema migrations with Alembic, run programmatically (``rujuk db upgrade`` and at start-up)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")

#: the newest revision in ``migrations/versions`` (a test checks it against Alembic's head): a
#: database already there is recognised at start-up without importing Alembic (0.15 s per process)
HEAD = "0015"


def alembic_config(url: str) -> Config:
    """An Alembic configuration for this database URL (no alembic.ini needed)."""
    from alembic.config import Config  # noqa: PLC0415 (see HEAD)

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The schema revision stored in the database (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415 (see HEAD)

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _stored_revisions(engine: Engine) -> set[str]:
    """The revisions in Alembic's version table, read without Alembic (none: no table yet)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return set()
        return {str(r) for r in conn.execute(text("SELECT version_num FROM alembic_version")).scalars()}


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` on this engine; nothing to do when it is there already."""
    if revision == "head" and _stored_revisions(engine) == {HEAD}:
        return
    from alembic import command  # noqa: PLC0415 (see HEAD)
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    if revision == "head" and current_revision(engine) == ScriptDirectory.from_config(cfg).get_current_head():
        return
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
