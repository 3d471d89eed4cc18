"""The `target` field of a request (HTTP body or CLI option), turned into a Target.

Contract of `target_from_request(data)`:

- None or ``"current"``: the host, `Target.current()` (on a server that is the server's interpreter;
  clients describe themselves with a complete platform instead).
- A Target: returned as is.
- A shorthand object ``{"python": "3.11", "platform": "manylinux_2_28_x86_64"}``; either key may be
  missing or null (meaning the host's), see `target_from_shorthand`.
- A complete platform object ``{"marker_environment": {...}, "compatible_tags": [...]}``, see
  `Target.from_json`.
- Anything else raises InvalidTarget naming what was wrong (unknown keys, wrong types, a mix of the
  two shapes); a target past a bound (`max_tags`, see `Target.from_json`) raises LimitExceeded.

Parsed targets are remembered by their input (a cache hit should not pay for parsing ~1000 tags),
in memos bounded by entry count and by the total number of tags they hold.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from venvd.errors import InvalidTarget
from venvd.target._model import MAX_COMPATIBLE_TAGS, Target
from venvd.target._shorthand import target_from_shorthand

__all__ = ["target_from_request"]

_SHORTHAND_KEYS = frozenset({"python", "platform"})
_COMPLETE_KEYS = frozenset({"marker_environment", "compatible_tags"})


def target_from_request(data: object, *, max_tags: int = MAX_COMPATIBLE_TAGS) -> Target:
    """A Target from a request's `target` value; raises InvalidTarget (see the module docstring)."""
    if data is None or data == "current":
        return Target.current()
    if isinstance(data, Target):
        return data
    if isinstance(data, str):
        raise InvalidTarget(
            f"target {data!r} is not understood: give \"current\", an object with \"python\" "
            "and/or \"platform\", or a complete platform object", target=data)
    if not isinstance(data, dict):
        raise InvalidTarget(
            f"a target must be \"current\" or a JSON object, not {type(data).__name__}")
    keys = set(data)
    if keys & _COMPLETE_KEYS:
        extra = sorted(str(k) for k in keys - _COMPLETE_KEYS)
        if extra:
            raise InvalidTarget(
                f"a complete platform takes only 'marker_environment' and 'compatible_tags', "
                f"not {', '.join(map(repr, extra))}", keys=extra)
        try:
            text = json.dumps(data, sort_keys=True)
        except (TypeError, ValueError):
            return Target.from_json(data, max_tags=max_tags)
        return _COMPLETE.get((text, max_tags),
                             lambda: Target.from_json(json.loads(text), max_tags=max_tags))
    unknown = sorted(str(k) for k in keys - _SHORTHAND_KEYS)
    if unknown:
        raise InvalidTarget(
            f"unknown target key(s) {', '.join(map(repr, unknown))}: a target object takes "
            "'python' and 'platform', or 'marker_environment' and 'compatible_tags'", keys=unknown)
    python, platform = data.get("python"), data.get("platform")
    for key, value in (("python", python), ("platform", platform)):
        if value is not None and not isinstance(value, str):
            raise InvalidTarget(f"target {key!r} must be a string, not {type(value).__name__}",
                                key=key)
        if value is not None and len(value) > _MAX_SHORTHAND_LENGTH:
            raise InvalidTarget(f"target {key!r} is longer than {_MAX_SHORTHAND_LENGTH} characters",
                                key=key)
    return _SHORTHAND.get((python, platform), lambda: target_from_shorthand(python, platform))


_MAX_SHORTHAND_LENGTH = 64  # the longest valid one, "manylinux_2_60_riscv64", is 22


class _TargetMemo:
    """A thread-safe LRU of parsed targets, bounded by entries and by the tags they hold (a target
    is up to max_compatible_tags Tag objects). Errors are not remembered."""

    def __init__(self, entries: int, tags: int) -> None:
        self._items: OrderedDict[Hashable, Target] = OrderedDict()
        self._entries = entries
        self._tags = tags
        self._held = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Target]) -> Target:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        target = make()
        weight = len(target.compatible_tags)
        with self._lock:
            if key not in self._items and weight <= self._tags:
                self._items[key] = target
                self._held += weight
                while len(self._items) > self._entries or self._held > self._tags:
                    _, dropped = self._items.popitem(last=False)
                    self._held -= len(dropped.compatible_tags)
        return target

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._held = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def tags_held(self) -> int:
        return self._held


# Keys: the canonical JSON text of a complete platform (bounded by the tag count check before it
# is remembered) or the shorthand strings (at most _MAX_SHORTHAND_LENGTH each).
_COMPLETE = _TargetMemo(entries=256, tags=200_000)
_SHORTHAND = _TargetMemo(entries=256, tags=200_000)
