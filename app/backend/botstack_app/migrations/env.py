"""Alembic environment: online migrations only, serialised by a PostgreSQL advisory lock so two
`alembic upgrade head` runs at the same time (two deploys, a retried one-off) can't collide."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool, text

from botstack_app.config import get_settings
from botstack_app.db import Base

MIGRATION_LOCK_ID = 0x626F7473  # "bots"

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = create_engine(get_settings().sqlalchemy_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.commit()
        try:
            context.configure(connection=connection, target_metadata=target_metadata)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("botstack migrations run online only (alembic upgrade head)")
run_migrations_online()
