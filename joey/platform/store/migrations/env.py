"""Alembic environment: migrate the connection ``Store`` hands over.

``Store`` passes its open connection in ``config.attributes["connection"]``; the
``alembic`` command line (with ``alembic.ini``) connects to ``sqlalchemy.url``.
Logging is left alone: configuring it is the entry point's job.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

from joey.platform.store.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as owned:
        _run(owned)


if context.is_offline_mode():
    raise RuntimeError("the joey store migrates a live database only (no --sql mode)")
_run_online()
