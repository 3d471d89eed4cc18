"""Core metadata from bytes: METADATA of wheels, PKG-INFO of sdists.

Parsing uses `packaging.metadata.parse_email` (the raw layer under `Metadata.from_email`) rather
than the validated `Metadata` attributes: an unparseable Requires-Dist entry is kept as text so
that `CoreMetadata.requirements()` skips it as pip does, instead of the whole file becoming
unusable.
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path
from typing import IO

from packaging.metadata import parse_email
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from venvd._archives import open_sdist_tar
from venvd.dist import CoreMetadata, DistFile

__all__ = ["InvalidCoreMetadata", "parse_core_metadata", "read_pkg_info", "static_pkg_info",
           "wheel_metadata_member"]

# PEP 643: from 2.2 on, a field not listed as Dynamic is final in the sdist.
_STATIC_FROM = Version("2.2")
# Fields the resolver reads: if the build may change any of them, PKG-INFO cannot stand in for it.
_RESOLUTION_FIELDS = frozenset({"requires-dist", "requires-python", "provides-extra"})


class InvalidCoreMetadata(Exception):
    """The bytes are not usable core metadata; callers turn this into the error of their layer."""


def parse_core_metadata(data: bytes | str, dist: DistFile | None = None) -> CoreMetadata:
    """CoreMetadata from METADATA/PKG-INFO text; name, version checked against `dist`."""
    raw, _unparsed = parse_email(data)
    name, version = raw.get("name"), raw.get("version")
    if not name or not version:
        raise InvalidCoreMetadata("metadata has no Name or no Version")
    try:
        parsed_version = Version(version)
    except InvalidVersion as exc:
        raise InvalidCoreMetadata(f"metadata has an invalid Version {version!r}") from exc
    if dist is not None and (canonicalize_name(name) != dist.project
                             or parsed_version != dist.version):
        raise InvalidCoreMetadata(
            f"metadata says {name} {version} but the file is {dist.project} {dist.version}")
    return CoreMetadata.create(
        name, parsed_version,
        requires_dist=raw.get("requires_dist", []),
        requires_python=raw.get("requires_python"),
        provides_extra=raw.get("provides_extra", []),
    )


def static_pkg_info(data: bytes) -> bool:
    """Whether an sdist's PKG-INFO is final for resolution (PEP 643: >= 2.2, fields not Dynamic)."""
    raw, _unparsed = parse_email(data)
    try:
        if Version(raw.get("metadata_version", "0")) < _STATIC_FROM:
            return False
    except InvalidVersion:
        return False
    dynamic = {field.strip().lower() for field in raw.get("dynamic", [])}
    return not (dynamic & _RESOLUTION_FIELDS)


# Real METADATA files, long descriptions included, stay far below this.
MAX_METADATA_SIZE = 16 * 1024 * 1024


def wheel_metadata_member(zf: zipfile.ZipFile, dist: DistFile) -> zipfile.ZipInfo:
    """The `<name>-<version>.dist-info/METADATA` entry of a wheel."""
    candidates = [info for info in zf.infolist() if info.filename.count("/") == 1
                  and info.filename.endswith(".dist-info/METADATA")]
    if len(candidates) > 1:
        # Several top-level .dist-info directories: take the one named for this file's project.
        candidates = [info for info in candidates
                      if canonicalize_name(info.filename.split("-", 1)[0]) == dist.project]
    if len(candidates) != 1:
        raise InvalidCoreMetadata(f"{dist.filename} has no single .dist-info/METADATA")
    if candidates[0].file_size > MAX_METADATA_SIZE:
        # Read whole into memory: a zip bomb here would hold a resolution's worker.
        raise InvalidCoreMetadata(f"{dist.filename}'s METADATA claims {candidates[0].file_size} "
                                  f"bytes, more than {MAX_METADATA_SIZE}")
    return candidates[0]


def read_pkg_info(sdist: Path) -> bytes | None:
    """The top-level PKG-INFO of an sdist archive (.tar.*, .tgz, .zip), or None if it has none."""
    name = sdist.name
    if name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as zf:
            for info in zf.infolist():
                if _is_top_pkg_info(info.filename):
                    return zf.read(info)
        return None
    # Headers tarfile reads whole, and the PKG-INFO read here, are bounded like a METADATA.
    with open_sdist_tar(sdist, MAX_METADATA_SIZE + tarfile.BLOCKSIZE) as tf:
        for member in tf:
            if member.isfile() and _is_top_pkg_info(member.name):
                handle: IO[bytes] | None = tf.extractfile(member)
                return handle.read() if handle is not None else None
    return None


def _is_top_pkg_info(path: str) -> bool:
    # `<name>-<version>/PKG-INFO`; deeper ones (`*.egg-info/PKG-INFO`) describe other builds.
    parts = path.lstrip("./").split("/")
    return len(parts) == 2 and parts[1] == "PKG-INFO"
