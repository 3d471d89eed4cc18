"""Deterministic tar members in zstd frames, and the artifact made by concatenating them.

A fragment is the tar members of one installed wheel (regular files only, sorted by path; mtime
315532800, uid/gid 0, empty owner names, mode 0o755 if executable else 0o644; PAX headers for long
or non-ASCII names) without the end-of-archive blocks, compressed as one zstd frame with a checksum.

Concatenated zstd frames are one valid zstd stream, and concatenated tar members are one valid tar
stream, so an artifact is::

    frame(manifest member) + fragment + fragment + ... + frame(end-of-archive blocks)

The manifest comes first so a reader learns the layout and target before any file. Readers must
decompress across frames (`zstandard`'s ``read_across_frames=True``; the zstd CLI does by default)
and read the tar as a stream (``tarfile.open(fileobj=..., mode="r|")``).
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

import zstandard

__all__ = [
    "EPOCH", "end_frame", "member_frame", "read_first_member", "write_artifact", "write_fragment",
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


def write_fragment(root: Path, files: Iterable[str], out: BinaryIO) -> None:
    """Write the files under `root` (relative "/" paths) to `out`: one zstd frame of tar members."""
    with _compressor().stream_writer(out, closefd=False) as writer:
        for rel in sorted(files):
            path = root / rel
            st = path.lstat()
            executable = bool(st.st_mode & 0o111)
            writer.write(_header(rel, st.st_size, executable))
            with path.open("rb") as f:
                remaining = st.st_size
                while remaining > 0:
                    chunk = f.read(min(_COPY, remaining))
                    if not chunk:
                        raise OSError(f"{path} shrank while it was being packed")
                    writer.write(chunk)
                    remaining -= len(chunk)
            writer.write(_padding(st.st_size))


def write_artifact(out: BinaryIO, manifest_name: str, manifest: bytes, fragments: list[Path],
                   on_fragment: Callable[[int], None] | None = None) -> tuple[str, int]:
    """Concatenate the artifact into `out`; its (sha256 hex, size). Streaming, no per-file work."""
    digest = hashlib.sha256()
    size = 0

    def emit(data: bytes) -> None:
        nonlocal size
        out.write(data)
        digest.update(data)
        size += len(data)

    emit(member_frame(manifest_name, manifest))
    for i, fragment in enumerate(fragments, 1):
        with fragment.open("rb") as f:
            while chunk := f.read(_COPY):
                emit(chunk)
        if on_fragment is not None:
            on_fragment(i)
    emit(end_frame())
    return digest.hexdigest(), size


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
