"""The Target value: what a requirement's markers and a wheel's tags are evaluated against.

Its JSON form is pex's "complete platform":
``{"marker_environment": {...}, "compatible_tags": [...]}``, tags most preferred first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any

from packaging.markers import InvalidMarker, Marker, UndefinedEnvironmentName
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, parse_tag
from packaging.version import InvalidVersion, Version

from venvd.errors import InvalidTarget, LimitExceeded

__all__ = ["MARKER_KEYS", "MAX_COMPATIBLE_TAGS", "MAX_TAG_LENGTH", "Target"]

# Bounds on a complete platform from a client (the service passes its `max_compatible_tags`
# setting; this is its default). The largest shorthand target stays well under it.
MAX_COMPATIBLE_TAGS = 20_000
MAX_TAG_LENGTH = 200  # characters of one (possibly compressed) tag string
MAX_MARKER_ENTRIES = 32
MAX_MARKER_VALUE_LENGTH = 256

# Entries of each per-target memo (tag sets, marker answers) before it is dropped whole.
_MEMO_LIMIT = 50_000

MARKER_KEYS = (
    "implementation_name",
    "implementation_version",
    "os_name",
    "platform_machine",
    "platform_python_implementation",
    "platform_release",
    "platform_system",
    "platform_version",
    "python_full_version",
    "python_version",
    "sys_platform",
)


@dataclasses.dataclass(frozen=True)
class Target:
    """A platform to resolve and build for. Never the host unless built by `current()`."""

    marker_environment: Mapping[str, str]
    compatible_tags: tuple[Tag, ...]

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_json(cls, data: Any, *, max_tags: int = MAX_COMPATIBLE_TAGS) -> Target:
        """Parse a complete platform object; raises InvalidTarget naming what is wrong, and
        LimitExceeded when it has more than `max_tags` tags (compressed tags counted expanded,
        before they are expanded), a tag longer than MAX_TAG_LENGTH, more than
        MAX_MARKER_ENTRIES marker entries or a marker value longer than MAX_MARKER_VALUE_LENGTH."""
        if not isinstance(data, dict):
            raise InvalidTarget("a complete platform must be a JSON object")
        env = data.get("marker_environment")
        tags = data.get("compatible_tags")
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise InvalidTarget("'marker_environment' must be an object of strings")
        _check_marker_environment(env)
        required = ("python_full_version", "python_version", "sys_platform")
        missing = [k for k in required if k not in env]
        if missing:
            raise InvalidTarget(f"'marker_environment' lacks {', '.join(missing)}")
        try:
            Version(env["python_full_version"])
        except InvalidVersion:
            raise InvalidTarget(
                f"python_full_version {env['python_full_version']!r} is not a version") from None
        if not isinstance(tags, list) or not tags or not all(isinstance(t, str) for t in tags):
            raise InvalidTarget("'compatible_tags' must be a non-empty list of tag strings")
        _check_tags(tags, max_tags)
        ordered: list[Tag] = []
        seen: set[Tag] = set()
        for text in tags:
            try:
                expanded = parse_tag(text)
            except ValueError:
                raise InvalidTarget(f"compatible tag {text!r} is not a PEP 425 tag") from None
            for tag in sorted(expanded, key=str):
                if tag not in seen:
                    seen.add(tag)
                    ordered.append(tag)
        return cls(marker_environment=dict(env), compatible_tags=tuple(ordered))

    @classmethod
    def current(cls) -> Target:
        """The running interpreter, as pip would see it."""
        from packaging.markers import default_environment
        from packaging.tags import sys_tags

        env: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
        return cls(marker_environment=env, compatible_tags=tuple(sys_tags()))

    @classmethod
    def from_shorthand(cls, python: str | None = None, platform: str | None = None) -> Target:
        """Build from `--python X.Y[.Z]` and `--platform NAME`; see `venvd.target._shorthand`."""
        from venvd.target._shorthand import target_from_shorthand

        return target_from_shorthand(python, platform)

    # -- views --------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "marker_environment": dict(sorted(self.marker_environment.items())),
            "compatible_tags": [str(t) for t in self.compatible_tags],
        }

    @cached_property
    def canonical_json(self) -> bytes:
        """`to_json()` as canonical JSON (sorted keys, no whitespace, ASCII), made once: requests
        embed it in their resolution key (hundreds of tags, costly to serialize per request)."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    @cached_property
    def key(self) -> str:
        """Stable identity: sha256 of the canonical complete-platform JSON."""
        return hashlib.sha256(self.canonical_json).hexdigest()

    @property
    def python_full_version(self) -> Version:
        return Version(self.marker_environment["python_full_version"])

    @property
    def python_version(self) -> str:
        return self.marker_environment["python_version"]

    @cached_property
    def _tag_rank(self) -> dict[Tag, int]:
        return {tag: i for i, tag in enumerate(self.compatible_tags)}

    @cached_property
    def _set_rank(self) -> dict[frozenset[Tag], int | None]:
        return {}

    def tag_rank(self, tags: Iterable[Tag]) -> int | None:
        """Rank of the best of `tags` for this target (0 is best), or None if none is compatible.

        A resolution asks this of every wheel it judges, and wheels share a few tag sets
        (`py3-none-any`, each CPython/manylinux combination): answers for a frozenset are
        remembered, in one dict per target, bounded by the distinct tag sets of the files judged
        for it (a target lives for one request, or for as long as a caller keeps it)."""
        if isinstance(tags, frozenset):
            known = self._set_rank
            if tags in known:
                return known[tags]
            if len(known) >= _MEMO_LIMIT:
                known.clear()  # a target may be kept across requests (the service's LRU)
            answer = known[tags] = self._best_rank(tags)
            return answer
        return self._best_rank(tags)

    def _best_rank(self, tags: Iterable[Tag]) -> int | None:
        ranks = self._tag_rank
        best: int | None = None
        for tag in tags:
            rank = ranks.get(tag)
            if rank is not None and (best is None or rank < best):
                best = rank
        return best

    def evaluate(self, marker: Marker | str | None, extras: Iterable[str] = ()) -> bool:
        """Evaluate a PEP 508 marker for this target, once with no extra and once per extra.

        A marker naming a variable this target lacks evaluates as false rather than raising.
        """
        if marker is None:
            return True
        if isinstance(marker, str):
            try:
                marker = Marker(marker)
            except InvalidMarker:
                return False
        # Answers are remembered per Marker object (held, so that its id stays its own) and extras:
        # a resolution evaluates the same requirements' markers again and again (dependencies,
        # prefetch hints, the lock), and packaging parses a specifier for every comparison.
        key = (id(marker), tuple(extras))
        known = self._marker_answers.get(key)
        if known is not None and known[0] is marker:
            return known[1]
        answer = self._evaluate(marker, key[1])
        if len(self._marker_answers) >= _MEMO_LIMIT:
            self._marker_answers.clear()
        self._marker_answers[key] = (marker, answer)
        return answer

    @cached_property
    def _marker_answers(self) -> dict[tuple[int, tuple[str, ...]], tuple[Marker, bool]]:
        return {}

    def _evaluate(self, marker: Marker, extras: Iterable[str]) -> bool:
        env = dict(self.marker_environment)
        candidates = [""] + [e for e in extras if e]
        for extra in candidates:
            env["extra"] = extra
            try:
                if marker.evaluate(env):
                    return True
            except UndefinedEnvironmentName:
                return False
        return False

    @cached_property
    def _python_answers(self) -> dict[str, bool]:
        return {}

    def allows_python(self, requires_python: str | SpecifierSet | None) -> bool:
        """Whether this target's Python satisfies a Requires-Python value (unparseable: yes).

        Answers for texts are remembered: an index lists the same few Requires-Python strings on
        thousands of files, and a resolution asks about each file.
        """
        if requires_python is None or requires_python == "":
            return True
        if isinstance(requires_python, str):
            answers = self._python_answers
            answer = answers.get(requires_python)
            if answer is None:
                try:
                    spec = SpecifierSet(requires_python)
                except InvalidSpecifier:
                    answer = True
                else:
                    answer = spec.contains(self.python_full_version, prereleases=True)
                answers[requires_python] = answer
            return answer
        return requires_python.contains(self.python_full_version, prereleases=True)


def _check_marker_environment(env: dict[str, str]) -> None:
    if len(env) > MAX_MARKER_ENTRIES:
        raise LimitExceeded(
            f"'marker_environment' has {len(env)} entries, more than the {MAX_MARKER_ENTRIES} "
            "allowed", limit="marker_environment_entries", max=MAX_MARKER_ENTRIES, actual=len(env))
    for key, value in env.items():
        if len(key) > MAX_MARKER_VALUE_LENGTH or len(value) > MAX_MARKER_VALUE_LENGTH:
            raise LimitExceeded(
                f"marker {key[:40]!r} is longer than {MAX_MARKER_VALUE_LENGTH} characters",
                limit="marker_value_length", max=MAX_MARKER_VALUE_LENGTH,
                actual=max(len(key), len(value)))


def _check_tags(tags: list[str], max_tags: int) -> None:
    """Count the tags a list expands to without expanding it (`py2.py3-none-any` is two tags; a
    compressed tag's expansion is the product of its parts' lengths)."""
    total = 0
    for text in tags:
        if len(text) > MAX_TAG_LENGTH:
            raise LimitExceeded(
                f"compatible tag {text[:60]!r}... is longer than {MAX_TAG_LENGTH} characters",
                limit="tag_length", max=MAX_TAG_LENGTH, actual=len(text))
        size = 1
        for part in text.split("-"):
            size *= part.count(".") + 1
        total += size
        if total > max_tags:
            raise LimitExceeded(
                f"'compatible_tags' expand to more than {max_tags} tags (the max_compatible_tags "
                "setting)", limit="max_compatible_tags", max=max_tags)
