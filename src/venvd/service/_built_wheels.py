"""Recording the wheels built from sdists (`BuiltWheels` rows), so every API node's `/simple/` lists
what any worker built.

A build records, after its artifact is published, each sdist pin of its lock whose built wheel has
no row yet, or a row naming another wheel (builds need not be reproducible: the row follows the last
build, whose wheel the object store most likely holds): read from the cache's ``built.json`` (the
builder shared it and the wheel to the object store right after building, so a row always names
shared bytes), with the sha256 of the wheel's exact METADATA bytes (the PEP 658 file `/simple/`
serves for it, written to the cache and shared here too, so a node that lists the wheel need not
download it to serve its metadata). A wheel found in the cache but built before the table existed is
recorded by the next build using it.
"""

from __future__ import annotations

import email.parser
import hashlib
import json
import logging
import zipfile
from collections.abc import Iterable
from pathlib import Path

from venvd.builder import BuildCache
from venvd.builder._cache import atomic_path
from venvd.store import BuiltWheel, BuiltWheels

__all__ = ["BuiltWheelRecorder", "wheel_metadata_bytes"]

_log = logging.getLogger("venvd.builds")

# Core metadata larger than this in a built wheel is not offered as a PEP 658 file (the wheel
# still is): a METADATA is a few kB, a huge one is a malformed wheel we do not want to hold.
_MAX_METADATA = 8 * 1024 * 1024


class BuiltWheelRecorder:
    """Adds the rows of built wheels; thread-safe (the store is, the cache writes are atomic)."""

    def __init__(self, rows: BuiltWheels, cache: BuildCache) -> None:
        self._rows = rows
        self._cache = cache

    def record(self, sdist_sha256s: Iterable[str], build_key: str) -> None:
        """Record the wheels built by `build_key` from these sdists whose row is missing or names
        another wheel than the cache's ``built.json`` (one query, and one small file read per
        sdist, when all agree). A wheel the cache does not hold is skipped (logged)."""
        wanted = set(sdist_sha256s)
        if not wanted:
            return
        rows = self._rows.find(wanted, build_key)
        for sha in sorted(wanted):
            row = rows.get(sha)
            if row is not None and row.sha256 == self._marker_sha256(sha, build_key):
                continue
            wheel = self._read(sha, build_key)
            if wheel is not None:
                self._rows.add(wheel, replace=row is not None)

    def _marker_sha256(self, sdist_sha256: str, build_key: str) -> str | None:
        """The built wheel's sha256 in this machine's ``built.json``, None when unreadable."""
        try:
            marker = self._cache.built_dir(sdist_sha256, build_key) / "built.json"
            return str(json.loads(marker.read_text())["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _read(self, sdist_sha256: str, build_key: str) -> BuiltWheel | None:
        directory = self._cache.built_dir(sdist_sha256, build_key)
        marker = directory / "built.json"
        try:
            if not marker.exists():
                self._cache.fetch_shared(marker)
            info = json.loads(marker.read_text())
            filename, sha256, size = str(info["filename"]), str(info["sha256"]), int(info["size"])
            path = directory / filename
            if "/" in filename or not (path.exists() or self._cache.fetch_shared(path)):
                raise FileNotFoundError(path)
            if path.stat().st_size != size:
                raise ValueError(f"{filename} is not {size} bytes")
            data = wheel_metadata_bytes(path)
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            _log.warning("not recording the wheel built from sdist %s: %s", sdist_sha256, exc)
            return None
        metadata_sha256 = None
        requires_python = None
        if data is not None:
            metadata_sha256 = hashlib.sha256(data).hexdigest()
            write_metadata_file(self._cache, metadata_sha256, filename, data)
            requires_python = email.parser.BytesHeaderParser().parsebytes(data).get("Requires-Python")
        return BuiltWheel(sdist_sha256=sdist_sha256, build_key=build_key, filename=filename,
                          sha256=sha256, size=size,
                          requires_python=str(requires_python) if requires_python else None,
                          metadata_sha256=metadata_sha256)


def write_metadata_file(cache: BuildCache, digest: str, wheel_filename: str, data: bytes) -> Path:
    """Put a wheel's METADATA bytes in the cache as its PEP 658 file (content-addressed, written
    under a temp name and renamed) and share it; its path."""
    dest = cache.wheel_path(digest, wheel_filename + ".metadata")
    if not dest.exists():
        with atomic_path(dest) as tmp:
            tmp.write_bytes(data)
        cache.share(dest)
    return dest


def wheel_metadata_bytes(wheel: Path) -> bytes | None:
    """The wheel's `<name>.dist-info/METADATA` bytes (the top-level dist-info's), or None (none,
    or larger than `_MAX_METADATA`). Raises OSError, zipfile.BadZipFile."""
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            parts = info.filename.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                if info.file_size > _MAX_METADATA:
                    return None
                return zf.read(info)
    return None
