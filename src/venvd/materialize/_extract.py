"""Read a venvd archive as a stream, safely: the manifest first, then every member into the venv.

The archive is a zstd stream (possibly many frames) of a tar stream whose first member is
`MANIFEST_NAME`. Members are checked before anything is written, beyond the PEP 706 "data" filter
(which is applied too, where this Python has it): only regular files and directories (no links of
any kind, devices or fifos), relative "/" paths without ``..``, ``.``, backslashes, drive letters or
NUL, landing inside the destination after resolving symlinks, and never over a file of the venv
skeleton (its interpreter, activation scripts, pyvenv.cfg). Any violation raises `UnsafeArchive`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import zstandard

__all__ = ["MANIFEST_FORMAT", "MANIFEST_NAME", "UnsafeArchive", "extract_rest", "open_archive",
           "read_manifest", "unsafe_path_reason"]

# These mirror venvd.builder's constants (the client does not import the builder).
MANIFEST_NAME = "venvd-manifest.json"
MANIFEST_FORMAT = "venvd-environment/1"
_MAX_MANIFEST_BYTES = 256 * 1024 * 1024
_CHUNK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafeArchive(Exception):
    """The archive is malformed or would write outside its place (becomes BuildError "extract")."""


def unsafe_path_reason(path: str) -> str | None:
    """Why a relative "/"-separated path from an untrusted archive is unsafe, or None if fine."""
    if not path:
        return "is empty"
    if "\0" in path:
        return "contains a NUL byte"
    if "\\" in path:
        return "contains a backslash"
    if path.startswith("/") or _DRIVE.match(path):
        return "is absolute"
    if any(part in ("..", ".") for part in path.split("/")):
        return "contains '..' or '.'"
    return None


@contextlib.contextmanager
def open_archive(path: Path) -> Iterator[tarfile.TarFile]:
    """The archive as a streaming TarFile (members in order, each readable once)."""
    with path.open("rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        with tarfile.open(fileobj=reader, mode="r|") as tf:
            yield tf


def read_manifest(tf: tarfile.TarFile) -> dict[str, Any]:
    """Read the first member, which must be the manifest of a format this client understands."""
    member = tf.next()
    if member is None or member.name != MANIFEST_NAME or not member.isfile():
        raise UnsafeArchive(f"the archive does not start with {MANIFEST_NAME}: not a venvd archive")
    if member.size > _MAX_MANIFEST_BYTES:
        raise UnsafeArchive(f"{MANIFEST_NAME} is implausibly large ({member.size} bytes)")
    stream = tf.extractfile(member)
    assert stream is not None  # a regular file
    try:
        manifest = json.loads(stream.read())
    except ValueError as exc:
        raise UnsafeArchive(f"{MANIFEST_NAME} is not JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise UnsafeArchive(f"archive format {found!r} is not {MANIFEST_FORMAT!r}: "
                            "this client is too old or the file is not a venvd archive")
    return manifest


def extract_rest(tf: tarfile.TarFile, dest: Path, *, protected: frozenset[str],
                 on_member: Callable[[int], None] | None = None) -> list[str]:
    """Extract every remaining member into `dest`; the relative paths of the files written.

    Files get mode 0o755 if any executable bit is set in the archive, else 0o644 (less the umask);
    directories are created as needed (never through a link that leaves `dest`).
    """
    root = os.path.realpath(dest)
    dirs = _Directories(root)
    umask = os.umask(0)
    os.umask(umask)
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | nofollow | getattr(os, "O_BINARY", 0)
    written: list[str] = []
    # Not `for member in tf`: iteration restarts at the first member, the manifest already read.
    while (member := tf.next()) is not None:
        _check(member, protected)
        parts = member.name.rstrip("/").split("/")
        if member.isdir():
            dirs.ensure(parts)
            continue
        target = os.path.join(dirs.ensure(parts[:-1]), parts[-1])
        if not nofollow and os.path.islink(target):  # else open() refuses a link itself
            raise UnsafeArchive(f"member {member.name!r} would write through a symbolic link")
        mode = (0o755 if member.mode & 0o111 else 0o644) & ~umask
        try:
            fd = os.open(target, flags, mode)
        except OSError as exc:
            raise UnsafeArchive(f"member {member.name!r} cannot be written: {exc.strerror}") from None
        try:
            source = tf.extractfile(member)
            assert source is not None  # a regular file
            while chunk := source.read(_CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)  # the file may have existed (two packages, one data file)
        finally:
            os.close(fd)
        written.append(member.name)
        if on_member is not None:
            on_member(len(written))
    return written


def _check(member: tarfile.TarInfo, protected: frozenset[str]) -> None:
    name = member.name
    reason = unsafe_path_reason(name.rstrip("/") if member.isdir() else name)
    if reason:
        raise UnsafeArchive(f"member {name!r} {reason}")
    if member.issym() or member.islnk():
        raise UnsafeArchive(f"member {name!r} is a link (to {member.linkname!r})")
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchive(f"member {name!r} is not a regular file or directory "
                            "(device, fifo or other special file)")
    if name == MANIFEST_NAME or name in protected:
        raise UnsafeArchive(f"member {name!r} would replace a file of the venv itself")


class _Directories:
    """Directories under `root` known to be real (or to resolve inside `root`), made on demand.

    Only the venv skeleton can hold links here (``lib64 -> lib``): the archive never makes any.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self.known: dict[tuple[str, ...], str] = {(): root}

    def ensure(self, parts: list[str]) -> str:
        key = tuple(parts)
        found = self.known.get(key)
        if found is not None:
            return found
        parent = self.ensure(parts[:-1])
        path = os.path.join(parent, parts[-1])
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path)
        else:
            if stat.S_ISLNK(st.st_mode):
                real = os.path.realpath(path)
                if os.path.commonpath([real, self.root]) != self.root or not os.path.isdir(real):
                    raise UnsafeArchive(f"{'/'.join(parts)} is a link out of the environment")
                path = real
            elif not stat.S_ISDIR(st.st_mode):
                raise UnsafeArchive(f"{'/'.join(parts)} is a file where a directory is needed")
        self.known[key] = path
        return path
