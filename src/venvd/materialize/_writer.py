"""Write extracted files from worker threads while one thread reads the archive stream.

The tar stream must be read in order by one thread, but creating a file is what costs: on some
filesystems well over 0.1 ms of kernel time per inode, against microseconds to decompress a small
member. `FileWriter` takes each member's bytes and writes them from a pool (``os.open``,
``os.write`` and ``os.close`` release the GIL), so creations overlap each other and the reading.

Contracts:
- Every file is opened ``O_CREAT | O_TRUNC | O_WRONLY | O_NOFOLLOW``: a link at the final path
  component is refused by the kernel, never written through (the caller has already resolved
  the directory, so no component above it is a link either). Its mode is set with ``fchmod``
  (the file may have existed: two packages writing one data file).
- Files go to the pool in batches (a task per small file would cost more than its write).
  Bytes handed over and not yet written are bounded by `max_pending` (a batch larger than that
  is accepted alone); every file also counts a floor of bytes, so many empty files are bounded too.
- The same path written twice keeps the later bytes: a second write of a path waits for every
  write handed over before it.
- The first failure of a worker is raised by a later `write` (the next time one hands over a
  batch) or by `finish`, as the original exception: UnsafeArchive when the file cannot be opened,
  OSError when writing fails. After a failure no worker starts another file. `finish` returns or
  raises only when no worker is writing; a caller abandoning the writer on its own error must
  shut the pool down (waiting) before removing what was written.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor

from venvd.materialize._paths import UnsafeArchive

__all__ = ["FileWriter", "write_file"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW | getattr(os, "O_BINARY", 0)
_FLOOR = 4096  # what a queued file costs at least (its path, its task), for the byte budget


def write_file(name: str, path: str, data: bytes | Callable[[], bytes], mode: int) -> None:
    """Write `data` to `path` with `mode`; `data` is the bytes, or a function returning the next
    chunk (b"" at the end).

    `name` is the member name, for errors: UnsafeArchive if the file cannot be opened (a link,
    a directory in the way, no permission).
    """
    if not _NOFOLLOW and os.path.islink(path):  # else open() refuses a link itself
        raise UnsafeArchive(f"member {name!r} would write through a symbolic link")
    try:
        fd = os.open(path, _FLAGS, mode)
    except OSError as exc:
        raise UnsafeArchive(f"member {name!r} cannot be written: {exc.strerror}") from None
    try:
        if isinstance(data, bytes):
            _write_all(fd, data)
        else:
            while chunk := data():
                _write_all(fd, chunk)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class FileWriter:
    """Writes files in `pool`, in batches; see the module docstring for the contract."""

    def __init__(self, pool: Executor, *, max_pending: int, batch_files: int = 16,
                 batch_bytes: int = 1024 * 1024) -> None:
        self._pool = pool
        self._max_pending = max_pending
        self._batch_files = batch_files
        self._batch_bytes = batch_bytes
        self._cond = threading.Condition()
        self._pending_bytes = 0
        self._pending_tasks = 0
        self._error: BaseException | None = None
        self._paths: set[str] = set()
        # Files wait here until a batch is full: a task per file would cost more than a write.
        self._batch: list[tuple[str, str, bytes, int]] = []
        self._batch_cost = 0

    def write(self, name: str, path: str, data: bytes, mode: int) -> None:
        """Hand `data` over to be written to `path` (see `write_file`); may block on the budget."""
        if path in self._paths:  # rare: the later member must win, so let the earlier land
            self._drain()
        self._paths.add(path)
        self._batch.append((name, path, data, mode))
        self._batch_cost += max(len(data), _FLOOR)
        if len(self._batch) >= self._batch_files or self._batch_cost >= self._batch_bytes:
            self._flush()

    def write_here(self, name: str, path: str, chunks: Callable[[], bytes], mode: int) -> None:
        """Write `path` in the calling thread, streaming (for members too large to queue)."""
        if path in self._paths:
            self._drain()
        else:
            self._raise_error()
        self._paths.add(path)
        write_file(name, path, chunks, mode)

    def finish(self) -> None:
        """Wait until every handed-over file is written; raise the first failure, if any."""
        self._drain()

    def _flush(self) -> None:
        if not self._batch:
            return
        batch, cost = self._batch, self._batch_cost
        self._batch, self._batch_cost = [], 0
        with self._cond:
            self._cond.wait_for(lambda: self._error is not None or self._pending_bytes == 0
                                or self._pending_bytes + cost <= self._max_pending)
            self._raise_error()
            self._pending_bytes += cost
            self._pending_tasks += 1
        try:
            self._pool.submit(self._run, batch, cost)
        except BaseException:
            self._done(cost, None)
            raise

    def _drain(self) -> None:
        self._flush()
        with self._cond:
            self._cond.wait_for(lambda: self._pending_tasks == 0)
            self._raise_error()

    def _run(self, batch: list[tuple[str, str, bytes, int]], cost: int) -> None:
        error: BaseException | None = None
        try:
            for name, path, data, mode in batch:
                if self._error is not None:  # the extraction is abandoned: write nothing more
                    break
                write_file(name, path, data, mode)
        except BaseException as exc:
            error = exc
        self._done(cost, error)

    def _done(self, cost: int, error: BaseException | None) -> None:
        with self._cond:
            self._pending_bytes -= cost
            self._pending_tasks -= 1
            if error is not None and self._error is None:
                self._error = error
            self._cond.notify_all()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error
