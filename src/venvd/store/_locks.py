"""Named locks across processes: PostgreSQL transaction-level advisory locks.

A lock lives in a transaction on a connection of its own, outside the Store's pool: a holder keeps
it for as long as its work takes (a resolution, up to its time budget), and many held locks must
not starve the pool the holders' own work needs. The transaction ends, and PostgreSQL releases the
lock, when the holder's block ends or its process dies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import sqlalchemy as sa
from sqlalchemy.engine import Engine

__all__ = ["advisory_lock_id", "held"]

_LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a statement cancelled by lock_timeout


def advisory_lock_id(name: str) -> int:
    """The bigint that names `name`'s lock: the first 8 bytes of its sha256, signed."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def held(engine: Engine, name: str, timeout: float | None) -> Iterator[bool]:
    """Hold the lock `name` for the block (True), or give up after `timeout` seconds and run the
    block without it (False). None waits for as long as it takes."""
    conn = engine.connect()
    try:
        conn.begin()
        if timeout is not None:
            millis = max(1, int(timeout * 1000))
            conn.execute(sa.select(sa.func.set_config("lock_timeout", f"{millis}ms", True)))
        try:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(advisory_lock_id(name))))
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                raise
            acquired = False
        else:
            acquired = True
        if acquired:
            yield True
            return
    finally:
        # Closing the connection (never pooled) ends the transaction and so releases the lock;
        # a connection lost meanwhile released it already, and the block's work stands.
        with suppress(sa.exc.DBAPIError):
            conn.close()
    yield False
