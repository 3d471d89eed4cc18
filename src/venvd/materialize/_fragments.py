"""The fragments of an artifact, as the manifest describes them, checked and unpacked one by one.

An artifact is ``frame(manifest) + fragment + ... + frame(end of archive)``; since builder format 3
each package of the manifest names its fragment: ``{"sha256", "size", "offset", "expanded_size"}``,
`offset` counted from the end of the manifest frame. That lets a client fetch only the fragments it
lacks (HTTP Range) and unpack them in parallel, each as one piece of bulk work:

- `plan` checks the manifest once, before anything is written: every listed path is checked per
  directory (each distinct directory once with the full rule, then only the last component of each
  file), no file may be a path of the venv itself (`protected`), the fragments must lie inside the
  artifact and their declared sizes stay within the manifest's totals and the client's bounds.
- `unpack` takes a fragment's compressed bytes, checks their sha256 against the manifest (so a
  truncated or altered download never reaches the disk), decompresses them with the zstd window
  bound, and writes exactly the members the manifest lists for that package: each member must be
  a regular file named in the package's list (a set look-up replaces the per-member path checks),
  its data within the declared expanded size, and every listed file must come. Files are written
  ``O_NOFOLLOW`` under directories made by `Directories` (never through a link out).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
import stat
from collections.abc import Mapping
from typing import Any

import zstandard

from venvd.materialize._dirs import Directories
from venvd.materialize._paths import UnsafeArchive, unsafe_path_reason
from venvd.materialize._tar import TarReader

__all__ = ["FragmentPlan", "PackagePlan", "has_fragments", "plan", "unpack"]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW | getattr(os, "O_BINARY", 0)
_END_OF_ARCHIVE = bytes(1024)


@dataclasses.dataclass(frozen=True)
class PackagePlan:
    """One package of the manifest: its files and where its fragment is."""

    index: int
    name: str
    version: str
    files: tuple[str, ...]
    sha256: str
    size: int
    offset: int  # from the end of the manifest frame
    expanded_size: int


@dataclasses.dataclass(frozen=True)
class FragmentPlan:
    """Where each file of an archive comes from: its packages' fragments, in order."""

    packages: tuple[PackagePlan, ...]
    directories: frozenset[str]  # every parent directory of a listed file
    owner: Mapping[str, int]  # path -> the index of the last package listing it (it wins)


def has_fragments(manifest: dict[str, Any]) -> bool:
    """Whether the manifest says where each package's fragment is (builder format 3 and later)."""
    packages = manifest.get("packages")
    return (isinstance(packages, list) and bool(packages)
            and all(isinstance(p, dict) and isinstance(p.get("fragment"), dict) for p in packages))


def plan(manifest: dict[str, Any], *, protected: frozenset[str], body_size: int | None,
         max_expanded: int) -> FragmentPlan:
    """The checked plan of `manifest` (see the module docstring); UnsafeArchive if anything in it
    is malformed or unsafe. `body_size` is the artifact's size after the manifest frame, when
    known; `max_expanded` the bytes all fragments may expand to."""
    packages: list[PackagePlan] = []
    directories: set[str] = set()
    owner: dict[str, int] = {}
    expanded = 0
    for index, package in enumerate(manifest["packages"]):
        fragment = package["fragment"]
        name, version, files = package.get("name"), package.get("version"), package.get("files")
        if not isinstance(name, str) or not isinstance(version, str) or not isinstance(files, list):
            raise UnsafeArchive(f"the manifest lists a malformed package: {package!r:.200}")
        sha256 = fragment.get("sha256")
        if not isinstance(sha256, str) or not _SHA256.match(sha256):
            raise UnsafeArchive(f"the manifest gives {name} no fragment sha256")
        numbers = [fragment.get(key) for key in ("size", "offset", "expanded_size")]
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
            raise UnsafeArchive(f"the manifest gives {name} a malformed fragment: {fragment!r:.200}")
        size, offset, expanded_size = numbers
        if body_size is not None and offset + size > body_size:
            raise UnsafeArchive(f"the fragment of {name} lies past the end of the artifact")
        expanded += expanded_size
        if expanded > max_expanded:
            raise UnsafeArchive(f"the manifest's fragments expand to more than {max_expanded} "
                                "bytes")
        for path in files:
            if not isinstance(path, str):
                raise UnsafeArchive(f"the manifest lists a file that is not a path: {path!r}")
            head, sep, base = path.rpartition("/")
            if not sep:
                reason = unsafe_path_reason(path)
                if reason:
                    raise UnsafeArchive(f"the manifest lists a file whose path {reason}: {path!r}")
            elif base in ("", ".", "..") or "\\" in base or "\0" in base:
                raise UnsafeArchive(f"the manifest lists an unsafe file name: {path!r}")
            else:
                directories.add(head)
            if path in protected:
                raise UnsafeArchive(f"member {path!r} would replace a file of the venv itself")
            owner[path] = index
        packages.append(PackagePlan(index, name, version, tuple(files), sha256, size, offset,
                                    expanded_size))
    for directory in directories:  # each distinct directory once, with the full rule
        reason = unsafe_path_reason(directory)
        if reason:
            raise UnsafeArchive(f"the manifest lists a directory whose path {reason}: "
                                f"{directory!r}")
    return FragmentPlan(tuple(packages), frozenset(directories), owner)


class _Tail(io.RawIOBase):
    """The fragment's decompressed members, then the tar end-of-archive blocks (fragments end
    without them), so that `TarReader` reads the fragment as a whole archive."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._tail = _END_OF_ARCHIVE

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size if size >= 0 else 1 << 20)
        if data:
            return data  # type: ignore[no-any-return]
        data, self._tail = self._tail, b""
        return data


def unpack(package: PackagePlan, data: bytes, dirs: Directories | str, *, max_window: int,
           umask: int, skip: frozenset[str] = frozenset()) -> dict[str, tuple[int, int]]:
    """Unpack the fragment of `package` (its compressed bytes `data`) under `dirs.root`, or, when
    `dirs` is a directory's path, side by side in it as ``0``, ``1``, ... in the order written.

    Returns (size, mtime_ns) for every file written, in the order written. Members in `skip` are
    read but not written (a later package writes the same path); modes are 0o755 or 0o644 less `umask`. Raises
    UnsafeArchive (sha256 mismatch, a member not listed, a listed file missing, more data than
    declared, a malformed stream) and OSError; a zstd window above `max_window` raises
    zstandard.ZstdError."""
    if len(data) != package.size or hashlib.sha256(data).hexdigest() != package.sha256:
        raise UnsafeArchive(f"the fragment of {package.name} {package.version} does not match "
                            "the sha256 its manifest gives (corrupted in transit?)")
    decompressor = zstandard.ZstdDecompressor(max_window_size=max_window)
    stream = _Tail(decompressor.stream_reader(data, read_across_frames=True))
    reader = TarReader(stream)  # type: ignore[arg-type]  # reads only
    listed = set(package.files)
    seen: set[str] = set()
    written: dict[str, tuple[int, int]] = {}
    left = package.expanded_size
    while (member := reader.next()) is not None:
        name = member.name
        if not member.isreg() or name not in listed:
            kind = "file" if member.isreg() else "link or special file" if not member.isdir() \
                else "directory"
            raise UnsafeArchive(f"the fragment of {package.name} holds a {kind} its manifest "
                                f"does not list: {name!r}")
        left -= member.size
        if left < 0:
            raise UnsafeArchive(f"the fragment of {package.name} expands to more than the "
                                f"{package.expanded_size} bytes its manifest declares")
        seen.add(name)
        body = reader.read_data(-1)
        if name in skip:
            continue
        mode = (0o755 if member.mode & 0o111 else 0o644) & ~umask
        if isinstance(dirs, str):
            path = f"{dirs}/{len(written)}"
        else:
            head, sep, base = name.rpartition("/")
            path = os.path.join(dirs.ensure(head.split("/")) if sep else dirs.root, base)
        written[name] = _write(name, path, body, mode)
    missing = listed - seen
    if missing:
        raise UnsafeArchive(f"the fragment of {package.name} lacks {len(missing)} listed "
                            f"file(s), e.g. {sorted(missing)[0]!r}")
    return written


def _write(name: str, path: str, data: bytes, mode: int) -> tuple[int, int]:
    try:
        fd = os.open(path, _FLAGS, mode)
    except OSError as exc:
        raise UnsafeArchive(f"member {name!r} cannot be written: {exc.strerror}") from None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, mode)
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(st.st_mode):  # pragma: no cover - O_NOFOLLOW and O_CREAT make a file
        raise UnsafeArchive(f"member {name!r} is not a regular file once written")
    return st.st_size, st.st_mtime_ns
