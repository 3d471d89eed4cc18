"""GC of the caches, for `venvd gc` and the periodic pass of a server (`cache_max_size`).

Two stores may hold objects: the shared object store, and, when that is not the local cache
directory itself (S3, a shared mount), this machine's working copies under data_dir/cache. Each gets
the same least-recently-used pass under the same budget, keeping what the store's leases name (running
builds and in-flight downloads, on any node) and what was used in the last `min_age` seconds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from venvd.objects import DELETING_PREFIX, FileObjectStore, GcReport, ObjectStore, collect
from venvd.store import Store

if TYPE_CHECKING:
    from venvd.service.settings import Settings

__all__ = ["LeaseGuard", "PeriodicGc", "run_gc"]

_log = logging.getLogger("venvd.gc")
# An announced removal outlives a GC that died while removing by this long at most.
_ANNOUNCE_SECONDS = 300.0
# What downloads stream (recipes, archives, fragments): only their removals need announcing, two
# store writes each; wheels and built wheels are read by builds, which lease them before looking.
_STREAMED = ("environments-v1/", "fragments-v1/")


class GcLimits(NamedTuple):
    max_size: int | None
    older_than: float | None
    min_age: float


class GcLimitError(ValueError):
    """A limit text that does not parse (`reason` says why), or no limit at all (`reason` None);
    `field` names it: max_size, older_than or min_age. Callers word it for their users."""

    def __init__(self, field: str, reason: str | None) -> None:
        super().__init__(f"{field}: {reason or 'neither a size nor an age is given'}")
        self.field = field
        self.reason = reason


def gc_limits(settings: Settings, max_size: str | None, older_than: str | None,
              min_age: str | None) -> GcLimits:
    """One pass's limits from an operator's texts (`venvd gc` options, `POST /v1/gc` fields):
    the size defaults to the `cache_max_size` setting, the grace to `gc_min_age`. Raises
    GcLimitError for a text that does not parse, or when neither a size nor an age is given."""
    from venvd.objects import parse_age, parse_size

    def parsed(field: str, parse: Callable[[str], float], given: str | None) -> float | None:
        try:
            return parse(given) if given else None
        except ValueError as exc:
            raise GcLimitError(field, str(exc)) from None

    size = parsed("max_size", parse_size, max_size or settings.cache_max_size)
    age = parsed("older_than", parse_age, older_than)
    grace = parsed("min_age", parse_age, min_age)
    if size is None and age is None:
        raise GcLimitError("max_size", None)
    return GcLimits(None if size is None else int(size), age,
                    settings.gc_min_age if grace is None else grace)


def gc_stores(objects: ObjectStore, cache_dir: Path) -> list[ObjectStore]:
    """The object store, then the local cache when it is another place."""
    if isinstance(objects, FileObjectStore) and objects.root.resolve() == Path(cache_dir).resolve():
        return [objects]
    return [objects, FileObjectStore(cache_dir)]


class LeaseGuard:
    """Announces a removal as a lease on ``gc/<key>`` (see `venvd.objects.DeleteGuard`): a download
    from a store that is not a directory reads the leases after taking its own and answers
    "collected" when one of its objects is being removed."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def announce(self, key: str) -> None:
        if key.startswith(_STREAMED):
            self._store.lease_objects(f"gc:{key}", [DELETING_PREFIX + key],
                                      datetime.now(UTC) + timedelta(seconds=_ANNOUNCE_SECONDS))

    def withdraw(self, key: str) -> None:
        if key.startswith(_STREAMED):
            self._store.release_objects(f"gc:{key}")


def run_gc(store: Store, objects: ObjectStore, cache_dir: Path, *, max_size: int | None = None,
           older_than: float | None = None, min_age: float = 60.0,
           dry_run: bool = False) -> list[GcReport]:
    """One GC pass over every store (see the module docstring); a report per store."""
    return [collect(s, max_size=max_size, older_than=older_than, leased=store.leased_objects,
                    min_age=min_age, dry_run=dry_run, guard=LeaseGuard(store))
            for s in gc_stores(objects, cache_dir)]


class PeriodicGc:
    """A daemon thread running `run_gc` every `interval` seconds under `max_size` until `stop`."""

    def __init__(self, store: Store, objects: ObjectStore, cache_dir: Path, *, max_size: int,
                 interval: float, min_age: float) -> None:
        self._args = (store, objects, cache_dir)
        self._max_size, self._interval, self._min_age = max_size, interval, min_age
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="venvd-gc", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                run_gc(*self._args, max_size=self._max_size, min_age=self._min_age)
            except Exception:
                # The next pass tries again; a GC fault must never take the server down.
                _log.exception("periodic cache GC failed")

    def stop(self) -> None:
        self._stopped.set()
