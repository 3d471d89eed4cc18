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
  two shapes).
"""

from __future__ import annotations

import functools
import json

from venvd.errors import InvalidTarget
from venvd.target._model import Target
from venvd.target._shorthand import target_from_shorthand

__all__ = ["target_from_request"]

_SHORTHAND_KEYS = frozenset({"python", "platform"})
_COMPLETE_KEYS = frozenset({"marker_environment", "compatible_tags"})


def target_from_request(data: object) -> Target:
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
            return Target.from_json(data)
        return _complete_platform(text)
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
    return _shorthand(python, platform)


# Targets are immutable values and parsing ~1000 tags costs milliseconds: a server answering a
# cache hit should not pay that on every request. Errors are not cached (lru_cache skips raises).
@functools.lru_cache(maxsize=256)
def _complete_platform(text: str) -> Target:
    return Target.from_json(json.loads(text))


@functools.lru_cache(maxsize=256)
def _shorthand(python: str | None, platform: str | None) -> Target:
    return target_from_shorthand(python, platform)
