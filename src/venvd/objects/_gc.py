"""Cache GC: least-recently-used objects first, under a size budget and/or an age limit.

One pass lists every object of the cache directories (artifacts, fragments, wheels, built wheels),
sorts them by last use, and removes from the oldest while the total is over `max_size` or the object
is older than `older_than`. Never removed: an object under a lease (a running build leases what its
lock names, a download leases every object it streams), or one used less than `min_age` seconds ago.
Just before removing, the object is looked at again (one used since the listing stays), the removal
is announced (`DeleteGuard`: a lease on ``gc/<key>``) and the leases are read again: a download that
leased the object before the announcement is seen here, and one that leases it after sees the
announcement (it answers "collected" rather than stream an object being removed). Environment
records are untouched: a build whose artifact was collected is rebuilt on its next request, byte for
byte the same.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from venvd.objects._base import PREFIXES, ObjectInfo, ObjectStore

__all__ = ["DELETING_PREFIX", "DeleteGuard", "GcReport", "collect", "parse_age", "parse_size"]

_log = logging.getLogger("venvd.gc")
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_AGES = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# The lease key that announces the removal of an object (see `DeleteGuard`).
DELETING_PREFIX = "gc/"


class DeleteGuard(Protocol):
    """Announces removals to readers that lease first: `announce(key)` before the leases are read
    for the last time, `withdraw(key)` once `key` is removed (or kept)."""

    def announce(self, key: str) -> None: ...

    def withdraw(self, key: str) -> None: ...


def parse_size(text: str) -> int:
    """``"20GB"``, ``"512MiB"``, ``"1000"`` → bytes; ValueError for anything else."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"not a size: {text!r} (e.g. 20GB, 512MiB, 1000000)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_age(text: str) -> float:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"3600"`` (seconds) → seconds; ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise ValueError(f"not an age: {text!r} (e.g. 30d, 12h, 90m, 3600)")
    return float(match.group(1)) * _AGES.get(match.group(2) or "s", 1)


@dataclasses.dataclass
class GcReport:
    store: str
    dry_run: bool
    total_before: int = 0
    removed: list[ObjectInfo] = dataclasses.field(default_factory=list)
    in_use: int = 0  # candidates kept because leased or just used

    @property
    def freed(self) -> int:
        return sum(o.size for o in self.removed)

    @property
    def total_after(self) -> int:
        return self.total_before - self.freed

    def to_json(self) -> dict[str, Any]:
        return {"store": self.store, "dry_run": self.dry_run, "total_before": self.total_before,
                "total_after": self.total_after, "freed": self.freed, "removed": len(self.removed),
                "kept_in_use": self.in_use, "keys": [o.key for o in self.removed]}


def collect(store: ObjectStore, *, max_size: int | None = None, older_than: float | None = None,
            leased: Callable[[], Iterable[str]] = tuple, min_age: float = 60.0,
            dry_run: bool = False, now: float | None = None,
            guard: DeleteGuard | None = None) -> GcReport:
    """One GC pass over `store` (see the module docstring); what was (or, dry, would be) removed.

    `leased()` gives the keys and key prefixes ("…/") in use; it is called once, then again
    before each removal. With neither `max_size` nor `older_than` nothing is removed."""
    now = time.time() if now is None else now
    objects = sorted((o for prefix in PREFIXES for o in store.list(prefix)),
                     key=lambda o: (o.last_used, o.key))
    report = GcReport(store=store.name, dry_run=dry_run, total_before=sum(o.size for o in objects))
    total = report.total_before
    in_use = _matcher(leased())
    for info in objects:
        over = max_size is not None and total > max_size
        old = older_than is not None and info.last_used < now - older_than
        if not (over or old):
            break  # sorted by last use: no later object is older, and the total only falls
        if in_use(info.key) or now - info.last_used < min_age:
            report.in_use += 1
            continue
        if not dry_run:
            current = store.stat(info.key)
            if current is None:
                total -= info.size  # gone already (another GC)
                continue
            if current.last_used > info.last_used + 1e-3:
                report.in_use += 1  # used since the listing
                continue
            if not _remove(store, info.key, leased, guard):
                report.in_use += 1
                continue
        total -= info.size
        report.removed.append(info)
    if report.removed:
        _log.info("gc %s: %s %d objects, %d bytes (%d → %d bytes)", store.name,
                  "would remove" if dry_run else "removed", len(report.removed), report.freed,
                  report.total_before, report.total_after)
    return report


def _remove(store: ObjectStore, key: str, leased: Callable[[], Iterable[str]],
            guard: DeleteGuard | None) -> bool:
    """Remove `key` unless a lease names it now; whether it was removed."""
    if guard is not None:
        guard.announce(key)
    try:
        if _matcher(leased())(key):
            return False
        store.delete(key)
        return True
    finally:
        if guard is not None:
            guard.withdraw(key)


def _matcher(leases: Iterable[str]) -> Callable[[str], bool]:
    leases = list(leases)
    keys = {lease for lease in leases if not lease.endswith("/")}
    prefix_tuple = tuple(lease for lease in leases if lease.endswith("/"))

    def matches(key: str) -> bool:
        return key in keys or (bool(prefix_tuple) and key.startswith(prefix_tuple))

    return matches
