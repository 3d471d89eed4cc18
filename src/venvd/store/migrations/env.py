"""Alembic environment for the venvd store.

Runs only programmatically: `venvd.store._migrate.upgrade` passes an open connection, already inside
the transaction (and lock) it wants, through ``config.attributes["connection"]``. There is no
alembic.ini and no logging set-up here: the application owns logging.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from venvd.store._models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("venvd migrations run only through venvd.store (no connection was given)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things; batch mode recreates tables in later migrations.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
