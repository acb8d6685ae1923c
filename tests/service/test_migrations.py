"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL,
and an upgrade keeps what was stored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text

from service.database import Base, make_engine
from service.migrate import current_revision, upgrade
from tests.servers import scratch_database


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if request.param == "sqlite":
        e = make_engine(f"sqlite:///{tmp_path_factory.mktemp('mig') / 'm.sqlite3'}")
        yield e
        e.dispose()
        return
    with scratch_database(request.getfixturevalue("postgres_url"), "rujuk_mig") as url:
        e = make_engine(url)
        try:
            yield e
        finally:
            e.dispose()


def test_head_matches_the_models(engine: Engine) -> None:
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_upgrade_from_the_first_revision_keeps_stored_rows(engine: Engine) -> None:
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    now = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (username, password_hash, roles, facility_id, active, created_at) "
                "VALUES ('kept', 'h', '[\"admin\"]', NULL, true, :t)"
            ),
            {"t": now},
        )
    upgrade(engine)
    assert current_revision(engine) == "0003"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT username FROM users")).scalars().all() == ["kept"]
        assert conn.execute(text("SELECT count(*) FROM ambulances")).scalar_one() == 0
