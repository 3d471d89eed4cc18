"""Build progress for the SSE streams of one API process: one watcher for all clients.

Clients of one environment share a `Channel` holding its latest progress document. What keeps the
channels current is one thing per process, never one loop per client:

- PostgreSQL: the store's `EnvironmentListener` (LISTEN venvd_env; every environment write of any
  process NOTIFYs in its transaction). A notification for a watched id costs one read of that row,
  whatever the number of its clients; reads of one id never overlap (a notification during a
  read causes one more read after it). After the listener (re)connects, every channel is re-read.
- SQLite (the embedded default): one poller reading every watched id in one query each
  `poll_seconds`. On PostgreSQL the same poller stands in while the listener is disconnected.

A channel's `version` grows each time its document changes; clients wait for a version past the
one they sent (`Channel.wait`), so a slow client skips to the latest document, as a poll would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from venvd.store import Store

__all__ = ["Channel", "ProgressHub", "close_progress_hub", "progress_hub"]

_log = logging.getLogger("venvd.api")


class Channel:
    """The latest progress document of one environment, and a way to wait for the next."""

    def __init__(self, env_id: str, document: dict[str, Any]) -> None:
        self.env_id = env_id
        self.document = document
        self.version = 1
        self.clients = 0
        self._changed = asyncio.Event()
        self.reading = False  # a read of this id is in flight
        self.stale = False  # ... and a notification came during it

    def publish(self, document: dict[str, Any]) -> None:
        if document == self.document:
            return
        self.document = document
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self, seen: int, timeout: float) -> None:
        """Return when `version` is past `seen`, or after `timeout` seconds."""
        if self.version != seen or timeout <= 0:
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)


class ProgressHub:
    """Create inside the event loop that serves the streams; `close()` there too."""

    def __init__(self, store: Store, *, poll_seconds: float = 0.2) -> None:
        self._store = store
        self._loop = asyncio.get_running_loop()
        self._channels: dict[str, Channel] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._poll_seconds = poll_seconds
        self._listener = store.listen_environments(self._changed_from_thread,
                                                   self._resynced_from_thread)
        # SQLite's watcher; on PostgreSQL, the fallback while the listener is disconnected.
        self._poller = self._loop.create_task(self._poll(), name="venvd-progress-poll")

    @property
    def pushed(self) -> bool:
        """True when the store notifies changes (PostgreSQL), False when the hub polls."""
        return self._listener is not None

    @asynccontextmanager
    async def subscribe(self, env_id: str, document: dict[str, Any]) -> AsyncIterator[Channel]:
        """The channel of `env_id` while the caller watches it; `document` (just read by the
        caller) starts a channel nobody watched yet."""
        channel = self._channels.get(env_id)
        if channel is None:
            channel = self._channels[env_id] = Channel(env_id, document)
            # A write between the caller's read and now was told to nobody: read once more.
            self._refresh(channel)
        channel.clients += 1
        try:
            yield channel
        finally:
            channel.clients -= 1
            if channel.clients == 0 and self._channels.get(env_id) is channel:
                del self._channels[env_id]

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        self._poller.cancel()
        for task in list(self._tasks):
            task.cancel()

    # -- PostgreSQL: notifications ----------------------------------------------------------
    def _changed_from_thread(self, env_id: str) -> None:
        self._call_soon(self._changed, env_id)

    def _resynced_from_thread(self) -> None:
        self._call_soon(self._resync)

    def _call_soon(self, callback: Any, *args: Any) -> None:
        # A closed loop: the server is gone, and its streams with it.
        with suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback, *args)

    def _changed(self, env_id: str) -> None:
        channel = self._channels.get(env_id)
        if channel is not None:
            self._refresh(channel)

    def _resync(self) -> None:
        for channel in list(self._channels.values()):
            self._refresh(channel)

    def _refresh(self, channel: Channel) -> None:
        if self._listener is None:
            return  # the poller reads every channel anyway
        if channel.reading:
            channel.stale = True
            return
        channel.reading = True
        task = self._loop.create_task(self._read(channel))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, channel: Channel) -> None:
        try:
            while True:
                channel.stale = False
                try:
                    found = await asyncio.to_thread(self._store.environments_progress,
                                                    [channel.env_id])
                except Exception:
                    # The next notification, or the resync after a reconnection, reads it again.
                    _log.exception("reading the progress of environment %s failed",
                                   channel.env_id)
                    return
                if channel.env_id in found:
                    channel.publish({"id": channel.env_id, **found[channel.env_id]})
                if not channel.stale:
                    return
        finally:
            channel.reading = False

    # -- SQLite, or PostgreSQL while the listener is away: one poller ----------------------
    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            if not self._channels or (self._listener is not None
                                      and self._listener.listening.is_set()):
                continue
            try:
                found = await asyncio.to_thread(self._store.environments_progress,
                                                list(self._channels))
            except Exception:
                _log.exception("reading the progress of %d environments failed",
                               len(self._channels))
                continue
            for env_id, row in found.items():
                channel = self._channels.get(env_id)
                if channel is not None:
                    channel.publish({"id": env_id, **row})


def progress_hub(app: Any, store: Store) -> ProgressHub:
    """The hub of `app` (in `app.state`), started by its first stream."""
    hub: ProgressHub | None = getattr(app.state, "progress_hub", None)
    if hub is None:
        hub = app.state.progress_hub = ProgressHub(store)
    return hub


def close_progress_hub(app: Any) -> None:
    hub: ProgressHub | None = getattr(app.state, "progress_hub", None)
    if hub is not None:
        app.state.progress_hub = None
        hub.close()
