"""`metadata_disagreement`: a wheel's own METADATA against the lock and what resolution read.

Resolution reads core metadata without the wheel (PEP 658 ``.metadata`` files, HTTP ranges). An
index can serve a ``.metadata`` that is not the wheel's: another Requires-Dist, another
Requires-Python. The build is where the wheel is in hand, so the build compares: name and version
against the lock's package (always), Requires-Dist and Requires-Python against the metadata
resolution used (when the caller knows it). Requirements compare as parsed `Requirement`s, the
Python requirement as a `SpecifierSet`, so spelling differences are not disagreements.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from venvd.dist import CoreMetadata
from venvd.lock import LockedPackage

__all__ = ["metadata_disagreement", "requires_dist", "wheel_metadata"]


def wheel_metadata(wheel: Path) -> str:
    """The wheel's ``<name>-<version>.dist-info/METADATA``; ValueError when the wheel has no
    single .dist-info directory with one, or is no zip."""
    from installer.exceptions import InstallerError
    from installer.sources import WheelFile

    try:
        with WheelFile.open(wheel) as source:
            return source.read_dist_info("METADATA")
    except (InstallerError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        # installer's messages carry the wheel's full path (the server's data dir): not shown.
        raise ValueError("it has no single .dist-info directory with a readable METADATA "
                         f"({type(exc).__name__})") from None


def requires_dist(data: str | bytes) -> tuple[str, ...]:
    """The Requires-Dist lines of METADATA `data`, as written."""
    raw, _unparsed = parse_email(data)
    return tuple(raw.get("requires_dist", []))


def metadata_disagreement(data: str | bytes, package: LockedPackage,
                          expected: CoreMetadata | None) -> str | None:
    """What in the wheel's METADATA `data` contradicts `package` or `expected`, or None."""
    raw, _unparsed = parse_email(data)
    name, version = raw.get("name") or "", raw.get("version") or ""
    if canonicalize_name(name) != canonicalize_name(package.name):
        return f"its METADATA names the project {name!r}, the lock {package.name!r}"
    if _version(version) != _version(package.version):
        return f"its METADATA says version {version!r}, the lock {package.version!r}"
    if expected is None:
        return None
    own, resolved = _requirements(raw.get("requires_dist", [])), _requirements(expected.requires_dist)
    if own != resolved:
        added = sorted(own - resolved)
        missing = sorted(resolved - own)
        return (f"its Requires-Dist differs from the metadata resolution used"
                f"{' (only in the wheel: ' + ', '.join(added) + ')' if added else ''}"
                f"{' (only in what resolution read: ' + ', '.join(missing) + ')' if missing else ''}")
    if _specifier(raw.get("requires_python")) != _specifier(expected.requires_python):
        return (f"its Requires-Python {raw.get('requires_python')!r} differs from the "
                f"{expected.requires_python!r} resolution used")
    return None


def _version(text: str) -> Version | str:
    try:
        return Version(text)
    except InvalidVersion:
        return text


def _requirements(texts: Iterable[str]) -> frozenset[str]:
    found = set()
    for text in texts:
        try:
            found.add(str(Requirement(text)))
        except InvalidRequirement:
            found.add(" ".join(text.split()))
    return frozenset(found)


def _specifier(text: str | None) -> SpecifierSet | str | None:
    if not text:
        return None
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return text
