"""Run the packaged Alembic migrations up to head, safely when several processes open one database.

The schema change happens in one transaction that first takes a database-wide lock, so a second
process waits and then finds the schema already current:
- PostgreSQL: ``pg_advisory_xact_lock`` (released at commit or rollback; DDL is transactional);
- SQLite: ``BEGIN IMMEDIATE`` (the write lock; SQLite DDL is transactional too).

A database already at `HEAD_REVISION` is recognised with one query and Alembic is not even
imported: opening the store is on the start-up path of every CLI command.

A new (empty) database gets the models' schema directly, `metadata.create_all()` and the head revision
stamped, as Alembic's cookbook says to create a database ("building an up-to-date database from
scratch"); the stamp is the one `alembic_version` row that `command.stamp` writes, written here
without importing Alembic (importing it was about 0.1 s of CPU, half of creating a new store, on the
path of every cold first command). tests/store/test_migrations.py proves the created schema equal to
the migrated one, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from venvd.store._engine import WRITE_OPTION

__all__ = ["HEAD_REVISION", "MIGRATIONS_DIR", "current_revision", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The newest revision in migrations/versions; a test checks it against Alembic's view.
HEAD_REVISION = "0005_built_wheels"
# An arbitrary fixed 64-bit number naming "venvd schema migration" among advisory locks.
_ADVISORY_LOCK_KEY = 0x76656E7664_0001


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision, or None when it has never been migrated."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head", *, create: bool = True) -> None:
    """Bring the database behind `engine` to `revision` (normally head); idempotent.

    With `create` (the default), an empty database is given the head schema at once (see the
    module docstring); `create=False` runs every migration, as for an existing database.
    """
    if revision == "head" and current_revision(engine) == HEAD_REVISION:
        return
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                             {"key": _ADVISORY_LOCK_KEY})
            # Decided under the lock: another process may have created the schema meanwhile.
            if create and revision == "head" and not sa.inspect(conn).get_table_names():
                _create_head(conn)
                return
            from alembic import command
            from alembic.config import Config

            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = conn
            command.upgrade(config, revision)


def _create_head(conn: Connection) -> None:
    """The models' schema and the head stamp, in the caller's transaction."""
    from venvd.store._models import Base

    Base.metadata.create_all(conn)
    _VERSION_TABLE.create(conn)
    conn.execute(_VERSION_TABLE.insert().values(version_num=HEAD_REVISION))


# Alembic's own version table, as its MigrationContext defines it (name, column, constraint name).
_VERSION_TABLE = sa.Table(
    "alembic_version", sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)
