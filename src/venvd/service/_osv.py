"""OSV advisories (https://ossf.github.io/osv-schema/, the format of the OSV and PyPA advisory
databases) read into what the store keeps: per PyPI package, the affected version intervals.

Taken from each document: `id`, `modified` (RFC 3339), `published`, `withdrawn`, `aliases`,
`summary` (else the first line of `details`), and per `affected[]` entry whose
`package.ecosystem` is "PyPI": `ranges[]` of type ECOSYSTEM (events `introduced`, `fixed`,
`last_affected`; "0" means from the first version; `limit` events are ignored, they bound git
walks) and the `versions[]` list (each an interval of one version). Other ecosystems, and ranges
of type GIT or SEMVER, are ignored: PyPI versions are ordered by PEP 440 (ECOSYSTEM).

Evaluation follows the schema's algorithm: a range's events sorted by version; `introduced` opens
an interval, `fixed` closes it before the fixed version, `last_affected` at it (inclusive).

A document that is not of this shape raises InvalidDocument naming the file and the field
(``affected[0].ranges[1].events[2].fixed``). An unparseable version in a `ranges` event is such an
error (it would change what the interval covers); one in a `versions` list is skipped (it cannot
equal any version venvd stores, which are all valid PEP 440).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from venvd.errors import InvalidDocument

__all__ = ["Advisory", "Interval", "parse_advisory"]

_MAX_TEXT = 1000  # characters of a summary kept


@dataclasses.dataclass(frozen=True)
class Interval:
    """Versions ``low <= v`` (None: from the first) and ``v < high`` (``<=`` when
    `high_inclusive`; None: no end) of one PyPI package (canonical name)."""

    package: str
    low: Version | None
    high: Version | None
    high_inclusive: bool


@dataclasses.dataclass(frozen=True)
class Advisory:
    id: str
    modified: datetime
    published: datetime | None
    withdrawn: bool
    summary: str
    aliases: list[str]
    intervals: list[Interval]
    document: dict[str, Any]


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file

    def error(self, field: str, problem: str) -> InvalidDocument:
        return InvalidDocument(f"{field}: {problem}", file=self.file, kind="osv", field=field)

    def text(self, value: Any, field: str, *, required: bool = True) -> str | None:
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(field, "must be a non-empty string")
        return value

    def time(self, value: Any, field: str, *, required: bool = True) -> datetime | None:
        if value is None and not required:
            return None
        if isinstance(value, datetime):  # YAML reads unquoted timestamps as datetimes
            when = value
        else:
            text = self.text(value, field)
            assert text is not None
            try:
                when = datetime.fromisoformat(text.replace("z", "Z"))
            except ValueError:
                raise self.error(field, f"{text[:50]!r} is not an RFC 3339 time") from None
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)

    def items(self, value: Any, field: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(field, "must be a list")
        return value

    def mapping(self, value: Any, field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(field, "must be an object")
        return value

    def version(self, value: Any, field: str) -> Version:
        text = self.text(value, field)
        assert text is not None
        try:
            return Version(text)
        except InvalidVersion:
            raise self.error(field, f"{text[:50]!r} is not a PEP 440 version") from None


def parse_advisory(doc: Any, file: str) -> Advisory:
    """The advisory of one OSV document; InvalidDocument naming `file` and the field."""
    read = _Reader(file)
    doc = read.mapping(doc, "(document)")
    # Kept whole in the store: PostgreSQL's JSONB refuses NUL characters in strings.
    if "\\u0000" in json.dumps(doc, default=str):
        raise read.error("(document)", "contains a NUL character")
    advisory_id = read.text(doc.get("id"), "id")
    assert advisory_id is not None
    if len(advisory_id) > 200:
        raise read.error("id", "longer than 200 characters")
    modified = read.time(doc.get("modified"), "modified")
    assert modified is not None
    published = read.time(doc.get("published"), "published", required=False)
    withdrawn = read.time(doc.get("withdrawn"), "withdrawn", required=False) is not None
    aliases = [read.text(a, f"aliases[{i}]") or ""
               for i, a in enumerate(read.items(doc.get("aliases"), "aliases"))]
    summary = read.text(doc.get("summary"), "summary", required=False)
    if summary is None:
        details = read.text(doc.get("details"), "details", required=False)
        summary = details.strip().splitlines()[0] if details else ""
    intervals: list[Interval] = []
    for i, affected in enumerate(read.items(doc.get("affected"), "affected")):
        where = f"affected[{i}]"
        affected = read.mapping(affected, where)
        package = read.mapping(affected.get("package"), f"{where}.package")
        if package.get("ecosystem") != "PyPI":
            continue
        name = read.text(package.get("name"), f"{where}.package.name")
        assert name is not None
        name = canonicalize_name(name)
        for j, rng in enumerate(read.items(affected.get("ranges"), f"{where}.ranges")):
            rng = read.mapping(rng, f"{where}.ranges[{j}]")
            kind = read.text(rng.get("type"), f"{where}.ranges[{j}].type")
            if kind == "ECOSYSTEM":
                intervals += _intervals(read, name, rng.get("events"), f"{where}.ranges[{j}].events")
        for k, text in enumerate(read.items(affected.get("versions"), f"{where}.versions")):
            read.text(text, f"{where}.versions[{k}]")
            try:
                version = Version(text)
            except InvalidVersion:
                continue  # see the module docstring
            intervals.append(Interval(name, version, version, high_inclusive=True))
    return Advisory(id=advisory_id, modified=modified, published=published, withdrawn=withdrawn,
                    summary=summary[:_MAX_TEXT], aliases=aliases, intervals=intervals,
                    document=doc)


_KINDS = ("introduced", "fixed", "last_affected", "limit")
# At one version, an interval closes before another opens (the schema's sort puts introduced
# first only for "0", which is never a closing version).
_ORDER = {"fixed": 0, "last_affected": 1, "limit": 2, "introduced": 3}


def _intervals(read: _Reader, name: str, events: Any, field: str) -> list[Interval]:
    parsed: list[tuple[Version | None, str]] = []
    for n, event in enumerate(read.items(events, field)):
        event = read.mapping(event, f"{field}[{n}]")
        kinds = [k for k in _KINDS if k in event]
        if len(kinds) != 1 or len(event) != 1:
            raise read.error(f"{field}[{n}]", f"must have exactly one of {', '.join(_KINDS)}")
        kind = kinds[0]
        if kind == "limit":
            continue
        value = event[kind]
        if kind == "introduced" and value == "0":
            parsed.append((None, kind))
        else:
            parsed.append((read.version(value, f"{field}[{n}].{kind}"), kind))
    if not parsed:
        raise read.error(field, "a range needs at least one event")
    # None ("0") sorts first.
    parsed.sort(key=lambda e: (e[0] is not None, e[0] or Version("0"), _ORDER[e[1]]))
    found: list[Interval] = []
    low: Version | None = None
    open_ = False
    for version, kind in parsed:
        if kind == "introduced":
            if not open_:
                low, open_ = version, True
        elif open_:
            found.append(Interval(name, low, version, high_inclusive=kind == "last_affected"))
            open_ = False
    if open_:
        found.append(Interval(name, low, None, high_inclusive=False))
    return found
