"""Where an artifact's bytes come from: a local file, or (in `venvd.client`) the server by HTTP.

`ArtifactSource` is what `materialize` reads: the manifest frame first (`first_frame`), then the
byte ranges of the fragments it lacks (`read_ranges`), or the whole artifact as a local file for
archives that do not say where their fragments are (`local_copy`).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

import zstandard

from venvd.materialize._paths import UnsafeArchive

__all__ = ["ArtifactSource", "FileSource", "read_first_frame"]

# Bounds what the manifest frame may expand to (the manifest member and its tar header).
MAX_FRAME_BYTES = 256 * 1024 * 1024 + 64 * 1024
_FRAME_READ = 256 * 1024


class ArtifactSource(Protocol):
    """An artifact, read in order: `first_frame` once, then `read_ranges` at most once."""

    name: str

    def first_frame(self, max_window: int) -> tuple[bytes, int]:
        """The decompressed first zstd frame (the manifest's tar member) and its compressed
        length; UnsafeArchive if it is truncated or expands past a bound, zstandard.ZstdError if
        it is no zstd or its window passes `max_window`."""

    def size(self) -> int | None:
        """The artifact's size in bytes, if known."""

    def read_ranges(self, ranges: list[tuple[int, int]]) -> Iterator[bytes]:
        """The bytes of each (offset, length) range, in the order given (offsets ascending);
        UnsafeArchive if the artifact ends before a range does."""

    def local_copy(self) -> contextlib.AbstractContextManager[Path]:
        """The whole artifact as a local file (verified), for the streaming extractor."""

    def close(self) -> None: ...


def read_first_frame(read: Callable[[int], bytes],
                     max_window: int) -> tuple[bytes, int, bytes]:
    """The first zstd frame of the stream `read` gives: its decompressed bytes, its compressed
    length (see `ArtifactSource.first_frame`) and the bytes read past it."""
    obj = zstandard.ZstdDecompressor(max_window_size=max_window).decompressobj()
    parts: list[bytes] = []
    out = consumed = 0
    while not obj.eof:
        chunk = read(_FRAME_READ)
        if not chunk:
            raise UnsafeArchive("the archive is truncated (it ends inside its first frame)")
        consumed += len(chunk)
        data = obj.decompress(chunk)
        out += len(data)
        if out > MAX_FRAME_BYTES:
            raise UnsafeArchive("the archive's manifest frame is implausibly large")
        parts.append(data)
    return b"".join(parts), consumed - len(obj.unused_data), obj.unused_data


class FileSource:
    """An artifact in a local file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self._file: BinaryIO = self.path.open("rb")

    def first_frame(self, max_window: int) -> tuple[bytes, int]:
        self._file.seek(0)
        frame, length, _rest = read_first_frame(self._file.read, max_window)
        return frame, length

    def size(self) -> int | None:
        return self.path.stat().st_size

    def read_ranges(self, ranges: list[tuple[int, int]]) -> Iterator[bytes]:
        for offset, length in ranges:
            self._file.seek(offset)
            data = self._file.read(length)
            if len(data) != length:
                raise UnsafeArchive("the archive is truncated (it ends inside a fragment)")
            yield data

    @contextlib.contextmanager
    def local_copy(self) -> Iterator[Path]:
        yield self.path

    def close(self) -> None:
        self._file.close()


def frame_members(frame: bytes) -> io.BytesIO:
    """The first frame's tar bytes followed by an end of archive, readable as a tar stream."""
    return io.BytesIO(frame + bytes(1024))
