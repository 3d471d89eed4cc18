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
    """Extract every remaining member into `dest`; the relative paths of the files written."""
    root = os.path.realpath(dest)
    written: list[str] = []
    has_filter = hasattr(tarfile, "data_filter")
    # Not `for member in tf`: iteration restarts at the first member, the manifest already read.
    while (member := tf.next()) is not None:
        _check(member, root, protected)
        if has_filter:
            tf.extract(member, root, set_attrs=True, filter="data")
        else:  # Python < 3.11.4: our checks above are stricter than the filter anyway
            tf.extract(member, root, set_attrs=True)
        if member.isfile():
            written.append(member.name)
            if on_member is not None:
                on_member(len(written))
    return written


def _check(member: tarfile.TarInfo, root: str, protected: frozenset[str]) -> None:
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
    target = os.path.join(root, *name.split("/"))
    if os.path.islink(target):
        raise UnsafeArchive(f"member {name!r} would write through a symbolic link")
    resolved = os.path.realpath(target)
    if os.path.commonpath([resolved, root]) != root:
        raise UnsafeArchive(f"member {name!r} would land outside the environment ({resolved})")
