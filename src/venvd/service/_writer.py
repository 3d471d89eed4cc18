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
from contextlib import AbstractContextManager
from typing import Any

__all__ = ["BackgroundWriter"]

log = logging.getLogger("venvd.service")


# Writes taken from the queue at once into one batch (bounded: a batch holds SQLite's write lock).
_BATCH = 64


class BackgroundWriter:
    """`batch`: a context manager factory making the writes inside it one transaction
    (`Store.batch`); the queued writes waiting at a time are then run together, as a cold
    resolution queues hundreds of them (one transaction each was most of the time the CLI
    waited for the queue at exit). When a batch fails, its writes are retried one by one, so a
    failing write loses only itself."""

    def __init__(self, batch: Callable[[], AbstractContextManager[Any]] | None = None) -> None:
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._batch = batch

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="venvd-store-writer", daemon=True)
                self._thread.start()
        self._queue.put((fn, args))

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            while items[-1] is not None and len(items) < _BATCH:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                writes = [item for item in items if item is not None]
                if len(writes) > 1 and self._batch is not None and self._run_batch(writes):
                    pass
                else:
                    for fn, args in writes:
                        self._run_one(fn, args)
                if items[-1] is None:
                    return
            finally:
                for _ in items:
                    self._queue.task_done()

    def _run_batch(self, writes: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> bool:
        assert self._batch is not None
        try:
            with self._batch():
                for fn, args in writes:
                    fn(*args)
        except Exception:
            log.debug("a batch of %d cache writes failed; writing them one by one", len(writes),
                      exc_info=True)
            return False
        return True

    @staticmethod
    def _run_one(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except Exception:
            log.warning("cache write %s failed", getattr(fn, "__name__", fn), exc_info=True)

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
