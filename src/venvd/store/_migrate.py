"""Run the packaged Alembic migrations up to head, safely when several processes open one database.

The schema change happens in one transaction that first takes a database-wide lock, so a second
process waits and then finds the schema already current:
- PostgreSQL: ``pg_advisory_xact_lock`` (released at commit or rollback; DDL is transactional);
- SQLite: ``BEGIN IMMEDIATE`` (the write lock; SQLite DDL is transactional too).

A database already at `HEAD_REVISION` is recognised with one query and Alembic is not even
imported: opening the store is on the start-up path of every CLI command.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from venvd.store._engine import WRITE_OPTION

__all__ = ["HEAD_REVISION", "MIGRATIONS_DIR", "current_revision", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The newest revision in migrations/versions; a test checks it against Alembic's view.
HEAD_REVISION = "0003_jobs"
# An arbitrary fixed 64-bit number naming "venvd schema migration" among advisory locks.
_ADVISORY_LOCK_KEY = 0x76656E7664_0001


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision, or None when it has never been migrated."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind `engine` to `revision` (normally head); idempotent."""
    if revision == "head" and current_revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                             {"key": _ADVISORY_LOCK_KEY})
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
