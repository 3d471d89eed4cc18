"""`check_distribution`: an uploaded file is a wheel or sdist whose metadata agrees with its name.

Everything is read from the file on disk (the upload was streamed there), within bounds: the wheel's
zip structure through the builder's strict reader (`check_wheel_zip`), then every member's CRC-32
(`zipfile.testzip`, which inflates no more than the bounds allow), an sdist's tar.gz walked to
its end (a truncated or corrupt stream is refused, not half-read), the core metadata file at most
`MAX_METADATA_BYTES`. Any problem is one `InvalidUpload` naming it; nothing here writes anywhere.
"""

from __future__ import annotations

import dataclasses
import tarfile
import zipfile
import zlib
from pathlib import Path

from packaging.metadata import InvalidMetadata, Metadata, parse_email
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from venvd._archives import ARCHIVE_ERRORS, open_sdist_tar
from venvd.dist import CoreMetadata, FileKind
from venvd.errors import InvalidUpload

__all__ = ["MAX_METADATA_BYTES", "MAX_SDIST_MEMBERS", "CheckedDistribution", "check_distribution"]

MAX_METADATA_BYTES = 1024 * 1024  # a METADATA / PKG-INFO larger than this is not metadata
MAX_SDIST_MEMBERS = 100_000


@dataclasses.dataclass(frozen=True)
class CheckedDistribution:
    """What an accepted upload is: its project and version (from the file name, which the
    metadata agrees with), kind, the core metadata file's bytes and what resolution reads of it."""

    filename: str
    project: NormalizedName
    version: Version
    kind: FileKind
    metadata_bytes: bytes
    metadata: CoreMetadata


def check_distribution(path: Path, filename: str, *, max_expanded: int,
                       max_ratio: float) -> CheckedDistribution:
    """Check the file at `path`, uploaded as `filename`; InvalidUpload naming the first problem.

    `max_expanded` / `max_ratio` bound what the archive may expand to (the wheel bounds the
    builder applies when it installs)."""
    if "/" in filename or "\\" in filename or filename.startswith("."):
        raise _invalid(filename, "the file name is not a plain file name")
    project, version, kind = _parse_filename(filename)
    if kind == "wheel":
        data = _wheel_metadata(path, filename, project, version, max_expanded, max_ratio)
    else:
        data = _sdist_metadata(path, filename, max_expanded)
    metadata = _parse_metadata(data, filename)
    if metadata.name != project or metadata.version != version:
        raise _invalid(filename, f"its metadata says {metadata.name} {metadata.version}, its file "
                       f"name {project} {version}")
    return CheckedDistribution(filename, project, version, kind, data, metadata)


def _invalid(filename: str, problem: str) -> InvalidUpload:
    return InvalidUpload(f"{filename}: {problem}", filename=filename, problem=problem)


def _parse_filename(filename: str) -> tuple[NormalizedName, Version, FileKind]:
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
            return name, version, "wheel"
        if filename.endswith(".tar.gz"):
            name, version = parse_sdist_filename(filename)
            return name, version, "sdist"
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        raise _invalid(filename, f"not a valid distribution file name ({exc})") from None
    raise _invalid(filename, "not a wheel (.whl) or an sdist (.tar.gz, PEP 625)")


def _wheel_metadata(path: Path, filename: str, project: NormalizedName, version: Version,
                    max_expanded: int, max_ratio: float) -> bytes:
    from venvd.builder import UnsafeZip, check_wheel_zip

    try:
        check_wheel_zip(path, max_expanded=max_expanded, max_ratio=max_ratio)
    except UnsafeZip as exc:
        raise _invalid(filename, f"not a valid wheel zip: {exc}") from None
    except OSError as exc:
        raise _invalid(filename, f"not a valid wheel zip: {exc}") from None
    try:
        with zipfile.ZipFile(path) as archive:
            # Every member's CRC, now rather than at the first install (within the bounds above).
            broken = archive.testzip()
            if broken is not None:
                raise _invalid(filename, f"not a valid wheel zip: member {broken!r} is corrupt")
            candidates = [info for info in archive.infolist()
                          if info.filename.count("/") == 1
                          and info.filename.endswith(".dist-info/METADATA")]
            if len(candidates) != 1:
                raise _invalid(filename, f"{len(candidates)} .dist-info/METADATA files at its "
                               "top level (a wheel has exactly one)")
            info = candidates[0]
            stem = info.filename.split("/")[0][: -len(".dist-info")]
            name, _, ver = stem.partition("-")
            try:
                same = canonicalize_name(name) == project and Version(ver) == version
            except InvalidVersion:
                same = False
            if not same:
                raise _invalid(filename, f"its {info.filename} does not match the file name")
            if info.file_size > MAX_METADATA_BYTES:
                raise _invalid(filename, f"{info.filename} is larger than "
                               f"{MAX_METADATA_BYTES} bytes")
            return archive.read(info)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise _invalid(filename, f"not a valid wheel zip: {exc}") from None


def _sdist_metadata(path: Path, filename: str, max_expanded: int) -> bytes:
    wanted = filename[: -len(".tar.gz")] + "/PKG-INFO"
    data: bytes | None = None
    expanded = 0
    try:
        # Headers tarfile reads whole are bounded like the PKG-INFO it may read.
        with open_sdist_tar(path, MAX_METADATA_BYTES + tarfile.BLOCKSIZE,
                            gzip_only=True) as archive:
            # Walked to the end: a truncated or corrupt stream fails here, not at a build.
            for count, member in enumerate(archive, 1):
                if count > MAX_SDIST_MEMBERS:
                    raise _invalid(filename, f"more than {MAX_SDIST_MEMBERS} members")
                expanded += member.size
                if expanded > max_expanded:
                    raise _invalid(filename, f"it expands to more than {max_expanded} bytes "
                                   "(the max_wheel_expanded_size setting)")
                if member.name == wanted and data is None:
                    if not member.isfile() or member.size > MAX_METADATA_BYTES:
                        raise _invalid(filename, f"{wanted} is not a file of at most "
                                       f"{MAX_METADATA_BYTES} bytes")
                    handle = archive.extractfile(member)
                    assert handle is not None  # a regular file
                    data = handle.read()
    except ARCHIVE_ERRORS as exc:
        raise _invalid(filename, f"not a valid tar.gz archive: {exc}") from None
    if data is None:
        raise _invalid(filename, f"no {wanted} in the archive (an sdist carries its metadata "
                       "there, PEP 643)")
    return data


def _parse_metadata(data: bytes, filename: str) -> CoreMetadata:
    """The fields resolution reads, each validated by packaging (fields this code does not read
    are left as they are: metadata from older tools carries fields newer than its version)."""
    raw, _unparsed = parse_email(data)
    parsed = Metadata.from_raw(raw, validate=False)
    try:
        name, version = parsed.name, parsed.version
        requirements = parsed.requires_dist or []
        requires_python = parsed.requires_python
        extras = parsed.provides_extra or []
    except InvalidMetadata as exc:
        raise _invalid(filename, f"its core metadata is invalid: {exc}") from None
    return CoreMetadata(
        name=canonicalize_name(name), version=version,
        # The texts as written (each parsed above), as an index's metadata gives them.
        requires_dist=tuple(raw.get("requires_dist") or [str(r) for r in requirements]),
        requires_python=str(requires_python) if requires_python is not None else None,
        provides_extra=tuple(canonicalize_name(e) for e in extras))
