"""Universal resolution: one request for several targets → one `UniversalLock`.

Each target is resolved alone, through the ordinary cached and coalesced resolution (each is a
normal cache entry, shared with single-target requests for that target), then the locks are
merged (`venvd.lock_universal.merge`, where the strategy is described). Targets are resolved one
after another: the second finds the project pages and metadata the first fetched in the caches,
and a machine shared by many requests gains nothing from more threads.

A universal lock posted to `POST /v1/environments` is built for one of its targets:
`lock_for_target` picks that target's own lock out of it.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from venvd.errors import InputError, InvalidLock, InvalidTarget, LimitExceeded, VenvdError
from venvd.lock import Lock
from venvd.lock_universal import UniversalLock, describe_target, merge
from venvd.service._request import ResolveRequest
from venvd.service._resolve import ResolveResult
from venvd.target import Target, target_from_request

__all__ = ["UniversalResult", "lock_for_target", "parse_targets", "resolve_universal"]


@dataclasses.dataclass(frozen=True)
class UniversalResult:
    lock: UniversalLock
    keys: tuple[str, ...]  # each target's resolution key
    cached: bool  # every target's resolution came from a cache
    timings: dict[str, Any]  # resolve_ms, targets_ms (one per target), merge_ms, total_ms

    def to_json(self) -> dict[str, Any]:
        return {**self.lock.to_json(), "cached": self.cached,
                "resolution_keys": list(self.keys), "timings": self.timings}

    def json_bytes(self) -> bytes:
        """`to_json()` as compact UTF-8 JSON, the lock's part encoded once per lock."""
        tail = json.dumps({"cached": self.cached, "resolution_keys": list(self.keys),
                           "timings": self.timings}, separators=(",", ":")).encode()
        return self.lock.json_members + b"," + tail[1:]


def parse_targets(targets: Sequence[Any], *, max_targets: int, max_tags: int) -> list[Target]:
    """The request's `targets`, parsed: at least one, at most `max_targets` (LimitExceeded), each
    a valid target (its error prefixed by ``targets[i]``), no two the same (InvalidTarget)."""
    if not targets:
        raise InvalidTarget("'targets' is empty: give at least one target", field="targets")
    if len(targets) > max_targets:
        raise LimitExceeded(
            f"{len(targets)} targets given, more than the {max_targets} allowed (the max_targets "
            "setting)", limit="max_targets", max=max_targets, actual=len(targets), field="targets")
    parsed: list[Target] = []
    for i, given in enumerate(targets):
        try:
            parsed.append(target_from_request(given, max_tags=max_tags))
        except InputError as exc:
            raise _prefixed(exc, f"targets[{i}]: ", i) from None
    first: dict[str, int] = {}
    for i, target in enumerate(parsed):
        j = first.setdefault(target.key, i)
        if j != i:
            raise InvalidTarget(
                f"targets {j} and {i} are the same target ({_describe(target)}); "
                "give each target once", targets=[j, i], field="targets")
    return parsed


def resolve_universal(
    targets: Sequence[Target],
    make_request: Callable[[Target], ResolveRequest],
    resolve: Callable[[ResolveRequest], ResolveResult],
) -> UniversalResult:
    """Resolve for each target (`make_request` validates; its errors are the request's own), then
    merge. A target's failure is raised as its own error class, the message prefixed with the
    target and ``details.target`` its index; IndistinguishableTargets from the merge."""
    started = time.perf_counter()
    # Validated and parsed once: the requests differ only by their target.
    first = make_request(targets[0])
    requests = [first, *(dataclasses.replace(first, target=t) for t in targets[1:])]
    described = [_describe(t) for t in targets]
    results: list[ResolveResult] = []
    each: list[float] = []
    for i, request in enumerate(requests):
        began = time.perf_counter()
        try:
            results.append(resolve(request))
        except VenvdError as exc:
            raise _prefixed(exc, f"for target {i} ({described[i]}): ", i) from None
        each.append(_ms(began))
    resolved = time.perf_counter()
    lock = _merged([r.lock for r in results], described)
    return UniversalResult(
        lock=lock, keys=tuple(r.key for r in results), cached=all(r.cached for r in results),
        timings={"resolve_ms": round((resolved - started) * 1000, 2), "targets_ms": each,
                 "merge_ms": _ms(resolved), "total_ms": _ms(started)})


def _describe(target: Target) -> str:
    """`describe_target` without serializing every tag of the target."""
    best = [str(target.compatible_tags[0])] if target.compatible_tags else []
    return describe_target({"marker_environment": target.marker_environment,
                            "compatible_tags": best})


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)


# Merged locks by their targets' lock ids, newest last: a warm universal request costs its cache
# hits, not a merge (~150 ms for 200 packages on 9 targets). Bounded by entries and by the
# package entries they hold.
_MERGED_KEPT = 64
_MERGED_WEIGHT = 100_000
_merged_locks: OrderedDict[tuple[str, ...], UniversalLock] = OrderedDict()
_merged_weight = 0
_merged_guard = threading.Lock()


def _merged(locks: list[Lock], described: list[str]) -> UniversalLock:
    """`merge(locks)`, remembered by the locks' ids (a merge is a pure function of them)."""
    global _merged_weight
    key = tuple(lock.id for lock in locks)
    with _merged_guard:
        found = _merged_locks.get(key)
        if found is not None:
            _merged_locks.move_to_end(key)
            return found
    universal = merge(locks, described)
    weight = len(universal.packages)
    with _merged_guard:
        if key not in _merged_locks and weight <= _MERGED_WEIGHT // 4:
            _merged_locks[key] = universal
            _merged_weight += weight
            while len(_merged_locks) > _MERGED_KEPT or _merged_weight > _MERGED_WEIGHT:
                _, dropped = _merged_locks.popitem(last=False)
                _merged_weight -= len(dropped.packages)
    return universal


def lock_for_target(data: dict[str, Any], given: Any, *, max_targets: int, max_packages: int,
                    max_tags: int) -> tuple[Lock, Target]:
    """The own lock of the target `given` names (a request's target; None when the lock has one
    target) out of universal lock JSON `data`, and that target. InvalidLock for a malformed or
    edited lock, LimitExceeded past the bounds, InvalidTarget when `given` is not one of the
    lock's targets (naming them) or is missing while the lock has several."""
    targets, packages = data.get("targets"), data.get("packages")
    for field, items, bound, setting in (("targets", targets, max_targets, "max_targets"),
                                         ("packages", packages, max_packages, "max_lock_packages")):
        if isinstance(items, list) and len(items) > bound:
            raise LimitExceeded(
                f"the lock has {len(items)} {field}, more than the {bound} allowed (the {setting} "
                "setting)", limit=setting, max=bound, actual=len(items))
    lock = UniversalLock.from_json(data)
    locked = []
    for i, entry in enumerate(lock.targets):
        try:
            locked.append(Target.from_json(entry.target, max_tags=max_tags))
        except InputError as exc:
            raise InvalidLock(f"target {i} of the lock: {exc.message}", target=i) from None
    names = "; ".join(f"{i}: {describe_target(t.target)}" for i, t in enumerate(lock.targets))
    if given is None:
        if len(locked) != 1:
            raise InvalidTarget(f"the lock is universal: name one of its {len(locked)} targets "
                                f"as the request's 'target' ({names})", field="target")
        return lock.lock_for(0), locked[0]
    wanted = target_from_request(given, max_tags=max_tags)
    for i, target in enumerate(locked):
        if target.key == wanted.key:
            return lock.lock_for(i), target
    raise InvalidTarget(
        f"the target {_describe(wanted)} is not one of the lock's targets "
        f"({names})", field="target")


def _prefixed(exc: VenvdError, prefix: str, index: int) -> VenvdError:
    """A copy of `exc` (same class, code and details, plus ``target``) whose message starts with
    `prefix`. A copy: the original may be shared with other waiters of a coalesced resolution.
    Built without the class's own __init__, whose signature differs from class to class."""
    new = type(exc).__new__(type(exc))
    new.__dict__.update(exc.__dict__)
    new.message = prefix + exc.message
    Exception.__init__(new, new.message)
    new.details = {**exc.details, "target": index}
    return new
