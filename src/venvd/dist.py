"""Distribution data shared by the layers: the files an index lists, and their core metadata.

These are plain values. `index` produces them, `store` persists them, `resolver` and `builder` read them;
none of those layers imports another, they all import this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

__all__ = ["CoreMetadata", "DistFile", "FileKind", "parse_dist_filename"]

FileKind = Literal["wheel", "sdist"]

_SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar")


def parse_dist_filename(
    filename: str,
) -> tuple[NormalizedName, Version, FileKind, frozenset[Tag]] | None:
    """Name, version, kind and wheel tags of a distribution file name, or None if it is not one.

    Legacy sdist suffixes (.tar.bz2, .tgz, .tar, .zip) are accepted, as pip does; anything that is
    neither a valid wheel nor a valid sdist name (eggs, .exe installers, garbage) gives None.
    """
    try:
        if filename.endswith(".whl"):
            name, version, _build, tags = parse_wheel_filename(filename)
            return name, version, "wheel", tags
        for suffix in _SDIST_SUFFIXES:
            if filename.endswith(suffix):
                stem = filename[: -len(suffix)]
                name, version = parse_sdist_filename(stem + ".tar.gz")
                return name, version, "sdist", frozenset()
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return None


@dataclasses.dataclass(frozen=True)
class DistFile:
    """One file of a project as an index lists it (PEP 503/691 fields, PEP 592/700/658/714)."""

    project: NormalizedName
    filename: str
    url: str
    version: Version
    kind: FileKind
    tags: frozenset[Tag]
    sha256: str | None = None
    size: int | None = None
    requires_python: str | None = None
    yanked: str | None = None  # None: not yanked; otherwise the reason ("" when none was given)
    upload_time: datetime | None = None
    # PEP 658/714: the index serves `<url>.metadata`; the value is its sha256 when given, else "".
    metadata_sha256: str | None = None
    index_url: str = ""

    @classmethod
    def from_filename(cls, filename: str, url: str, **fields: Any) -> DistFile | None:
        """Build a DistFile from an index entry, or None when the file name is not a distribution."""
        parsed = parse_dist_filename(filename)
        if parsed is None:
            return None
        name, version, kind, tags = parsed
        return cls(
            project=name,
            filename=filename,
            url=url,
            version=version,
            kind=kind,
            tags=tags,
            **fields,
        )

    @property
    def is_yanked(self) -> bool:
        return self.yanked is not None

    @cached_property
    def requires_python_specifier(self) -> SpecifierSet | None:
        """The file's Requires-Python as a SpecifierSet; None when absent or unparseable."""
        if not self.requires_python:
            return None
        try:
            return SpecifierSet(self.requires_python)
        except InvalidSpecifier:
            return None

    @property
    def cache_key(self) -> str:
        """Identity for per-file caches: the sha256 when known, else the URL."""
        return f"sha256:{self.sha256}" if self.sha256 else f"url:{self.url}"


@dataclasses.dataclass(frozen=True)
class CoreMetadata:
    """The parts of a distribution's core metadata that resolution needs."""

    name: NormalizedName
    version: Version
    requires_dist: tuple[str, ...] = ()
    requires_python: str | None = None
    provides_extra: tuple[str, ...] = ()

    @classmethod
    def create(
        cls,
        name: str,
        version: str | Version,
        requires_dist: Iterable[str] = (),
        requires_python: str | None = None,
        provides_extra: Iterable[str] = (),
    ) -> CoreMetadata:
        return cls(
            name=canonicalize_name(name),
            version=version if isinstance(version, Version) else Version(version),
            requires_dist=tuple(requires_dist),
            requires_python=requires_python or None,
            provides_extra=tuple(canonicalize_name(e) for e in provides_extra),
        )

    @cached_property
    def _parsed_requirements(self) -> tuple[Requirement, ...]:
        out = []
        for text in self.requires_dist:
            try:
                out.append(Requirement(text))
            except InvalidRequirement:
                continue
        return tuple(out)

    def requirements(self) -> list[Requirement]:
        """Requires-Dist parsed; entries that do not parse are skipped (pip warns and does the same).

        Parsed once per metadata (immutable): a warm resolution asks again for every candidate.
        """
        return list(self._parsed_requirements)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": str(self.version),
            "requires_dist": list(self.requires_dist),
            "requires_python": self.requires_python,
            "provides_extra": list(self.provides_extra),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> CoreMetadata:
        return cls.create(
            str(data["name"]),
            str(data["version"]),
            requires_dist=[str(x) for x in data.get("requires_dist") or []],  # type: ignore[attr-defined]
            requires_python=data.get("requires_python") or None,  # type: ignore[arg-type]
            provides_extra=[str(x) for x in data.get("provides_extra") or []],  # type: ignore[attr-defined]
        )
