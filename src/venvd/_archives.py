"""Reading an sdist's tar archive within a memory bound, for every layer that does it in-process.

`tarfile` reads a GNU long-name or pax extended header whole, in one `read(size)` of whatever size
the header claims: a few hundred kB of gzip can claim gigabytes. `open_sdist_tar` hands tarfile the
decompressed stream through a reader that refuses any single read larger than `max_read`, so such a
header fails as a `tarfile.ReadError` instead of being allocated. Member data is skipped by seeking
(the decompressor reads forward in small chunks), so only headers and what the caller extracts
count against the bound.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["ARCHIVE_ERRORS", "open_sdist_tar"]

# What reading a damaged or hostile archive raises (bz2 raises OSError).
ARCHIVE_ERRORS: tuple[type[Exception], ...] = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError,
                                               OSError)


class _BoundedReads(io.RawIOBase):
    def __init__(self, raw: io.BufferedIOBase | IO[bytes], max_read: int) -> None:
        self._raw = raw
        self._max_read = max_read

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self._max_read:
            raise tarfile.ReadError(f"a header or member of more than {self._max_read} bytes "
                                    "read at once")
        return self._raw.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()
        super().close()


@contextlib.contextmanager
def open_sdist_tar(path: Path, max_read: int, *, gzip_only: bool = False) -> Iterator[tarfile.TarFile]:
    """The tar archive `path` (gzip, bzip2, xz or uncompressed) open for reading while the context lasts,
    every single read of its decompressed stream at most `max_read` bytes (tarfile.ReadError
    beyond). `gzip_only`: anything but a gzip stream is a tarfile.ReadError (an upload's `.tar.gz`)."""
    with _decompressed(path, gzip_only) as raw, \
            tarfile.open(fileobj=_BoundedReads(raw, max_read), mode="r:") as archive:
        yield archive
def _decompressed(path: Path, gzip_only: bool) -> io.BufferedIOBase | IO[bytes]:
    """`path` opened through the decompressor its first bytes name (as tarfile's "r:*" picks one;
    an upload's spool file has no telling suffix)."""
    with open(path, "rb") as probe:
        magic = probe.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(path, "rb")
    if gzip_only:
        raise tarfile.ReadError("not a gzip stream")
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(path, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(path, "rb")
    return open(path, "rb")
