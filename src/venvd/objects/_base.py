"""The object-store contract shared by the filesystem and S3 implementations."""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

__all__ = ["PREFIXES", "TEMP_PREFIX", "ObjectInfo", "ObjectStore", "is_no_space"]

# The versioned cache directories (key prefixes) that hold objects: see venvd.builder._cache.
PREFIXES = ("wheels-v1/", "built-v1/", "fragments-v1/", "environments-v1/")
# Names under which a writer stages bytes; never objects (the builder's own prefix, same spelling).
TEMP_PREFIX = ".tmp-"


@dataclasses.dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its key, size in bytes and when it was last used (POSIX seconds)."""

    key: str
    size: int
    last_used: float


@runtime_checkable
class ObjectStore(Protocol):
    """Content-addressed blobs under string keys (``wheels-v1/ab/<sha>/<file>``, ...).

    Contract, for every implementation:
    - a write is never half-visible: readers see the old state or all the new bytes;
    - reads are streamed (`open_range` yields blocks) and may ask for a byte range;
    - misses are return values (`stat` gives None); reading a missing key raises FileNotFoundError;
    - a failing write raises OSError (ENOSPC for a full disk, whatever the backend said otherwise)
      and leaves nothing at the key.
    """

    name: str

    def put_file(self, key: str, path: Path) -> None:
        """Store `path`'s bytes at `key` (atomically replacing what was there)."""

    def put_stream(self, key: str, stream: BinaryIO) -> None:
        """Store what `stream` yields until EOF at `key` (atomically)."""

    def get_file(self, key: str, dest: Path) -> None:
        """Copy the object at `key` to `dest` (written whole or not at all); FileNotFoundError."""

    def open_range(self, key: str, start: int = 0, end: int | None = None,
                   block: int = 1 << 20) -> Iterator[bytes]:
        """The bytes `start..end` (inclusive; `end` None = to the end) in blocks. The object is
        opened before the first block is yielded, so a missing key raises FileNotFoundError at the
        first `next()`; an object removed while being read is either read whole or raises."""

    def stat(self, key: str) -> ObjectInfo | None:
        """Size and last use of `key`, or None."""

    def touch(self, key: str) -> None:
        """Record a use of `key` now (for least-recently-used collection); a miss is ignored."""

    def delete(self, key: str) -> None:
        """Remove `key`; a miss is ignored."""

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, temp names excluded."""

    def presigned_url(self, key: str, expires: float) -> str | None:
        """A URL that serves `key` for `expires` seconds without credentials (S3 only), or None."""

    def local_path(self, key: str) -> Path | None:
        """Where `key` lives on this machine's disk, when this store is a directory; else None."""


def is_no_space(exc: BaseException) -> bool:
    """True for a full disk or quota (ENOSPC, EDQUOT), wherever it was raised."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
