"""Engine creation: one engine per Store, configured for safe concurrent use.

SQLite: WAL (readers never block the writer), a busy timeout (writers queue instead of failing),
foreign keys on, and explicit transactions: pysqlite's own implicit BEGIN is turned off so that
SQLite's transactional DDL works (migrations) and so that write transactions can start with
``BEGIN IMMEDIATE``. A deferred transaction that reads and then writes can fail with SQLITE_BUSY
without waiting when another writer got in between; taking the write lock up front makes writers
queue on the busy timeout instead.

Write transactions are requested with the execution option ``venvd_write=True`` on the connection
before it begins (see `begin_write`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from venvd.errors import VenvdError

__all__ = ["BUSY_TIMEOUT_SECONDS", "WRITE_OPTION", "create_engine"]

_SQLITE_MIN = (3, 35, 0)
BUSY_TIMEOUT_SECONDS = 30.0
WRITE_OPTION = "venvd_write"


def create_engine(url: str) -> Engine:
    """An engine for `url` (``sqlite:///path`` or ``postgresql+psycopg://...``)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    if sqlite3.sqlite_version_info < _SQLITE_MIN:
        raise VenvdError(f"SQLite {sqlite3.sqlite_version} is too old for the venvd store "
                         f"(needs {'.'.join(map(str, _SQLITE_MIN))}+: RETURNING, UPSERT)")
    if not parsed.database or parsed.database == ":memory:":
        # Each pooled connection would see its own empty database.
        raise VenvdError("the venvd store needs an SQLite file, not an in-memory database")
    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        parsed,
        connect_args={"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
    )
    sa.event.listen(engine, "connect", _sqlite_on_connect)
    sa.event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit at the driver level: we emit BEGIN ourselves in _sqlite_on_begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable enough in WAL mode, much faster
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch the database file to WAL (persistent, so usually already done). Changing the mode
    needs an exclusive lock for which SQLite does not always call the busy handler: while other
    processes migrate a new database it may answer "locked" at once, so wait and try again."""
    import sqlite3
    import time

    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_on_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")
