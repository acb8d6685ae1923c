"""Alembic environment: migrations run on the engine the service uses (passed in by ``upgrade``)."""

from __future__ import annotations

from alembic import context

from service.database import Base, make_engine

config = context.config
target_metadata = Base.metadata


def run() -> None:
    """Run migrations online, on the connection given by ``service.migrate`` or a new engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
