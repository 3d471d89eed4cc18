"""Environment change notifications across processes (PostgreSQL LISTEN/NOTIFY).

Every write of an environment row sends ``NOTIFY venvd_env, '<id>'`` in the writing transaction
(`notify_changed`), so PostgreSQL delivers it when, and only if, the write commits. An API process
keeps one `EnvironmentListener`: a thread on a dedicated connection that LISTENs and hands each id
to a callback; it reconnects by itself and, after each (re)connection, calls `resynced` since
notifications sent while it was away are lost. SQLite has no such channel: its readers poll.

Channels are database-wide, not per schema: a listener may hear ids of another venvd sharing the
database; a reader looking them up finds nothing of its own to tell.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

__all__ = ["CHANNEL", "EnvironmentListener", "notify_changed"]

CHANNEL = "venvd_env"
_log = logging.getLogger("venvd.store")
# How often the listening thread looks at its stop flag while no notification comes.
_WAKE_SECONDS = 0.5
_MAX_RECONNECT_DELAY = 5.0


def notify_changed(s: Session, environment_id: str) -> None:
    """Queue a notification that `environment_id` changed, sent when `s` commits (PostgreSQL;
    nothing on SQLite). Identical notifications of one transaction are sent once."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(sa.select(sa.func.pg_notify(CHANNEL, environment_id)))


class EnvironmentListener:
    """One LISTEN connection in a daemon thread. `changed(id)` and `resynced()` run in that thread
    and must not block. `close()` stops it within about half a second."""

    def __init__(self, connect_args: dict[str, Any], changed: Callable[[str], None],
                 resynced: Callable[[], None]) -> None:
        self._connect_args = connect_args
        self._changed = changed
        self._resynced = resynced
        self._stopping = threading.Event()
        self.listening = threading.Event()  # set while a LISTEN connection is up
        self._thread = threading.Thread(target=self._run, name="venvd-listen", daemon=True)

    def start(self) -> EnvironmentListener:
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        import psycopg

        delay = 0.1
        while not self._stopping.is_set():
            try:
                with psycopg.connect(**self._connect_args, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    delay = 0.1
                    self.listening.set()
                    self._resynced()
                    while not self._stopping.is_set():
                        for notification in conn.notifies(timeout=_WAKE_SECONDS):
                            self._changed(notification.payload)
            except psycopg.Error as exc:
                if self._stopping.is_set():
                    break
                _log.warning("listening for environment changes failed (%s); again in %.1f s",
                             exc, delay)
            except Exception:
                _log.exception("an environment change listener callback failed")
            finally:
                self.listening.clear()
            self._stopping.wait(delay)
            delay = min(delay * 2, _MAX_RECONNECT_DELAY)


def listener_connect_args(url: sa.URL) -> dict[str, Any]:
    """psycopg.connect() keyword arguments for the SQLAlchemy `url` (its query, such as
    ``options=-csearch_path=...``, passed on as libpq parameters)."""
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    dialect = PGDialect_psycopg()  # type: ignore[no-untyped-call]
    _args, kwargs = dialect.create_connect_args(url)  # type: ignore[no-untyped-call]
    kwargs.setdefault("connect_timeout", 5)
    return dict(kwargs)
