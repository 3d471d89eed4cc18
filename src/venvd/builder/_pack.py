"""Deterministic tar members in zstd frames, and the artifact made by concatenating them.

A fragment is the tar members of one installed wheel (regular files only, in the order installer
writes them, which is fixed by the wheel's bytes; mtime 315532800, uid/gid 0, empty owner names, mode
0o755 if executable else 0o644; PAX headers for long or non-ASCII names) without the end-of-archive
blocks, compressed as one zstd frame with a checksum.

Concatenated zstd frames are one valid zstd stream, and concatenated tar members are one valid tar
stream, so an artifact is::

    frame(manifest member) + fragment + fragment + ... + frame(end-of-archive blocks)

The manifest comes first so a reader learns the layout and target before any file. Readers must
decompress across frames (`zstandard`'s ``read_across_frames=True``; the zstd CLI does by default)
and read the tar as a stream (``tarfile.open(fileobj=..., mode="r|")``).

A build need not write that concatenation: `hash_artifact` reads the fragments once for the sha256
and size the client verifies, and the artifact is served as the parts themselves (a recipe, see
`venvd.objects.Recipe`). `write_artifact` writes the one file when a caller wants one.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tarfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import zstandard

__all__ = [
    "EPOCH", "FragmentWriter", "end_frame", "hash_artifact", "member_frame", "read_first_member",
    "write_artifact", "write_concatenation",
]

EPOCH = 315532800  # 1980-01-01T00:00:00Z
_LEVEL = 3
_BLOCK = 512
_COPY = 1024 * 1024


def _compressor() -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(level=_LEVEL, write_checksum=True)


def _header(name: str, size: int, executable: bool) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = EPOCH
    info.mode = 0o755 if executable else 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _BLOCK)


def member_frame(name: str, data: bytes) -> bytes:
    """One tar member holding `data`, as a zstd frame (the manifest)."""
    return _compressor().compress(_header(name, len(data), False) + data + _padding(len(data)))


def end_frame() -> bytes:
    """The tar end-of-archive (two zero blocks) as a zstd frame."""
    return _compressor().compress(b"\0" * (2 * _BLOCK))


class FragmentWriter:
    """Writes tar members into `out` as one zstd frame; the frame ends on `close`."""

    def __init__(self, out: BinaryIO) -> None:
        self._writer = _compressor().stream_writer(out, closefd=False)
        self.expanded_size = 0  # bytes of member data written (what extraction writes to disk)

    def add(self, name: str, data: bytes, executable: bool) -> None:
        self.expanded_size += len(data)
        self._writer.write(_header(name, len(data), executable))
        self._writer.write(data)
        self._writer.write(_padding(len(data)))

    def close(self) -> None:
        self._writer.close()  # type: ignore[no-untyped-call]

    def __enter__(self) -> FragmentWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_artifact(dest: Path, manifest_name: str, manifest: bytes, fragments: list[Path],
                   on_fragment: Callable[[int], None] | None = None) -> tuple[str, int]:
    """Write the artifact to `dest`; its (sha256 hex, size).

    Streaming only, no per-file work: fragments are copied in the kernel (copy_file_range, a
    reflink where the filesystem can) while another thread hashes the same bytes from the page
    cache, so the cost is about max(copy, hash) rather than their sum.
    """
    return write_concatenation(dest, member_frame(manifest_name, manifest), fragments, end_frame(),
                               on_fragment)


def write_concatenation(dest: Path, head: bytes, fragments: list[Path], tail: bytes,
                        on_fragment: Callable[[int], None] | None = None) -> tuple[str, int]:
    """Write ``head + fragments + tail`` to `dest` (see `write_artifact`); its (sha256 hex, size)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="venvd-hash") as pool:
        hashing = pool.submit(_hash_all, head, fragments, tail)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, head)
            size = len(head)
            for i, fragment in enumerate(fragments, 1):
                src = os.open(fragment, os.O_RDONLY)
                try:
                    length = os.fstat(src).st_size
                    _copy(src, fd, length)
                finally:
                    os.close(src)
                size += length
                if on_fragment is not None:
                    on_fragment(i)
            _write_all(fd, tail)
            size += len(tail)
        finally:
            os.close(fd)
        digest, hashed = hashing.result()
    if hashed != size:  # a fragment changed under us: never publish bytes we did not hash
        raise OSError(f"fragments changed while {dest.name} was assembled")
    return digest, size


def hash_artifact(head: bytes, fragments: list[Path], tail: bytes) -> tuple[str, list[int]]:
    """The sha256 hex of ``head + fragments + tail`` and each fragment's size, reading every
    fragment once (no copy is written: streaming the hash is the whole cost, about 1 GB/s with
    SHA-NI). The sizes are those of the bytes hashed, so a recipe made from them is exact."""
    digest = hashlib.sha256(head)
    sizes = []
    buffer = bytearray(_COPY)  # one buffer for every read: no allocation per megabyte
    view = memoryview(buffer)
    for fragment in fragments:
        size = 0
        with fragment.open("rb", buffering=0) as f:
            while n := f.readinto(buffer):
                digest.update(view[:n])
                size += n
        sizes.append(size)
    digest.update(tail)
    return digest.hexdigest(), sizes


def _hash_all(head: bytes, fragments: list[Path], tail: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(head)
    size = len(head)
    for fragment in fragments:
        with fragment.open("rb") as f:
            while chunk := f.read(_COPY):
                digest.update(chunk)
                size += len(chunk)
    digest.update(tail)
    return digest.hexdigest(), size + len(tail)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _copy(src: int, dst: int, length: int) -> None:
    remaining = length
    if hasattr(os, "copy_file_range"):
        try:
            while remaining > 0:
                copied = os.copy_file_range(src, dst, remaining)
                if copied == 0:
                    break
                remaining -= copied
        except OSError as exc:  # not supported here (old kernel, other filesystem): copy by hand
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
    while remaining > 0:
        chunk = os.read(src, min(_COPY, remaining))
        if not chunk:
            raise OSError("a fragment shrank while it was copied")
        _write_all(dst, chunk)
        remaining -= len(chunk)


def read_first_member(path: Path, expected_name: str) -> bytes | None:
    """The data of the archive's first member if it is named `expected_name` (the manifest)."""
    with path.open("rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=False)
        with tarfile.open(fileobj=reader, mode="r|") as tf:
            member = tf.next()
            if member is None or member.name != expected_name or not member.isfile():
                return None
            extracted = tf.extractfile(member)
            return extracted.read() if extracted is not None else None
