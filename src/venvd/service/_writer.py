"""One background thread for cache writes that nobody waits for.

Project pages and metadata go to the store so that the next resolution (in any process) finds them;
the resolution that fetched them already has them in memory. Writing them on the resolver's path made
every page fetch wait for SQLite's single writer, so they are queued here instead and written in order
by one thread. `flush()` waits for the queue to drain (the CLI calls it through `Service.close()`, so
an in-process run leaves a complete cache behind). A failed write is logged and dropped: the cache only
misses an entry, and the store's writes are atomic, so nothing half-written is ever visible.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["BackgroundWriter"]

log = logging.getLogger("venvd.service")


class BackgroundWriter:
    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="venvd-store-writer", daemon=True)
                self._thread.start()
        self._queue.put((fn, args))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                fn, args = item
                try:
                    fn(*args)
                except Exception:
                    log.warning("cache write %s failed", getattr(fn, "__name__", fn), exc_info=True)
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until every submitted write is done."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()
