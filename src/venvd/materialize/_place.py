"""Put an artifact's files into a venv fragment by fragment: from the client's cache where it holds
them, fetching and unpacking only the rest (see `_fragments` for the checks, `_cache` and `_link`).

With a cache: fragments the cache holds intact are reused; the others are fetched (one read of the
source, in artifact order, while a thread pool verifies and unpacks what was read into new cache
entries); then the venv's directories are made up front and every file is linked (or cloned, or
copied) from its entry. Without a cache, fragments are unpacked straight into the venv.

The venv skeleton (``python -m venv``) is made meanwhile by the caller: `venv_ready` waits for it
and names its files, which no listed file may replace.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from venvd.materialize._cache import CacheEntry, FileCache
from venvd.materialize._dirs import Directories
from venvd.materialize._fragments import FragmentPlan, PackagePlan, unpack
from venvd.materialize._link import link_all
from venvd.materialize._paths import UnsafeArchive
from venvd.materialize._source import ArtifactSource

__all__ = ["Placed", "place_fragments"]

# Compressed bytes read but not yet unpacked, at most (one larger fragment is taken alone).
_MAX_IN_FLIGHT = 256 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Placed:
    """What `place_fragments` did: files placed, fragments fetched or reused, and how."""

    files: int
    fetched: int  # fragments fetched
    fetched_bytes: int
    reused: int  # fragments taken from the cache
    method: str | None  # how files were put into the venv (None: unpacked there)
    used: tuple[CacheEntry, ...]


def place_fragments(source: ArtifactSource, frame_length: int, plan: FragmentPlan, dest: Path,
                    *, venv_ready: Callable[[], frozenset[str]], cache: FileCache | None,
                    link_mode: str, max_window: int, umask: int, workers: int,
                    report: Callable[[str, int, int], None]) -> Placed:
    """Place every listed file of `plan` under `dest` (see the module docstring). Raises
    UnsafeArchive, OSError, zstandard.ZstdError, or what `source` raises; when it raises, no
    worker is writing any more."""
    root = os.path.realpath(dest)
    futures: list[Future[None]] = []
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="venvd-place")
    try:
        entries = _cached(cache, plan, pool) if cache is not None else {}
        missing = sorted((p for p in plan.packages if p.index not in entries),
                         key=lambda p: p.offset)
        dirs: Directories | None = None
        if cache is None:
            dirs = _venv_dirs(root, plan, venv_ready(), pool)
        total = len(plan.packages)
        report("extract", len(entries), total)
        lock = threading.Lock()

        def into_cache(package: PackagePlan, data: bytes) -> None:
            assert cache is not None
            with cache.pending() as tmp:
                files = unpack(package, data, str(tmp / "files"), max_window=max_window,
                               umask=umask)
                entry = cache.commit(tmp, package.sha256, f"{package.name} {package.version}",
                                     files)
            with lock:
                entries[package.index] = entry

        def into_venv(package: PackagePlan) -> Callable[[PackagePlan, bytes], None]:
            skip = frozenset(f for f in package.files if plan.owner[f] != package.index)

            def run(package: PackagePlan, data: bytes) -> None:
                assert dirs is not None
                unpack(package, data, dirs, max_window=max_window, umask=umask, skip=skip)
            return run

        budget = _Budget(_MAX_IN_FLIGHT)
        fetched_bytes = 0
        ranges = [(frame_length + p.offset, p.size) for p in missing]
        pieces = zip(missing, source.read_ranges(ranges), strict=True)
        for done, (package, data) in enumerate(pieces, 1):
            _raise_first(futures)
            size = len(data)
            budget.take(size)
            task = into_cache if cache is not None else into_venv(package)
            future = pool.submit(task, package, data)
            future.add_done_callback(budget.release(size))
            futures.append(future)
            fetched_bytes += len(data)
            report("extract", len(entries) + done, total)
        for future in futures:
            future.result()
        if cache is None:
            return Placed(len(plan.owner), len(missing), fetched_bytes, 0, None, ())
        dirs = _venv_dirs(root, plan, venv_ready(), pool)
        pairs = []
        for path, index in plan.owner.items():
            head, sep, base = path.rpartition("/")
            parent = dirs.known[tuple(head.split("/"))] if sep else root
            pairs.append((entries[index].source(path), f"{parent}/{base}"))
        report("link", 0, len(pairs))
        method = link_all(pairs, link_mode, pool)
        report("link", len(pairs), len(pairs))
        return Placed(len(pairs), len(missing), fetched_bytes, len(plan.packages) - len(missing),
                      method, tuple(entries[p.index] for p in plan.packages))
    finally:
        # Fragments already read are still unpacked (into the cache, they spare the next run a
        # download) unless one of them failed; either way no worker writes once this returns.
        pool.shutdown(wait=True, cancel_futures=any(
            f.done() and f.exception() is not None for f in futures))


def _cached(cache: FileCache, plan: FragmentPlan,
            pool: ThreadPoolExecutor) -> dict[int, CacheEntry]:
    """The plan's fragments the cache holds intact; a changed entry is removed (fetched again)."""
    def check(package: PackagePlan) -> CacheEntry | None:
        entry = cache.get(package.sha256)
        if entry is None:
            return None
        if FileCache.intact(entry, list(package.files)):
            return entry
        cache.discard(package.sha256)
        return None

    found = {}
    for package, entry in zip(plan.packages, pool.map(check, plan.packages), strict=True):
        if entry is not None:
            found[package.index] = entry
    return found


def _venv_dirs(root: str, plan: FragmentPlan, protected: frozenset[str],
               pool: ThreadPoolExecutor) -> Directories:
    """The venv's directories for every listed file, made; UnsafeArchive if a listed file would
    replace one of the skeleton's."""
    clash = sorted(protected & plan.owner.keys())
    if clash:
        raise UnsafeArchive(f"member {clash[0]!r} would replace a file of the venv itself")
    absent = frozenset(p for p in protected if not os.path.lexists(os.path.join(root, p)))
    dirs = Directories(root, absent)
    dirs.create_tree(plan.directories, pool)
    return dirs


def _raise_first(futures: list[Future[None]]) -> None:
    for future in futures:
        if future.done() and future.exception() is not None:
            raise future.exception()  # type: ignore[misc]


class _Budget:
    """Bytes handed to the pool and not yet unpacked, bounded (a larger piece is taken alone)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._used = 0
        self._cond = threading.Condition()

    def take(self, n: int) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._used == 0 or self._used + n <= self._limit)
            self._used += n

    def release(self, n: int) -> Callable[[object], None]:
        """A done-callback giving `n` bytes back."""
        def give(_future: object) -> None:
            with self._cond:
                self._used -= n
                self._cond.notify_all()
        return give
