"""Read a venvd archive as a stream, safely: the manifest first, then every member into the venv.

The archive is a zstd stream (possibly many frames) of a tar stream whose first member is
`MANIFEST_NAME`. Each member is checked before anything of it is written, more strictly than
PEP 706's "data" filter: only regular files and directories (no links of any kind, devices or
fifos), relative "/" paths without ``..``, ``.``, backslashes, drive letters or NUL, landing inside
the destination after resolving symlinks (only the skeleton's own), never written through a link,
and never over a file of the venv skeleton (its interpreter, activation scripts, pyvenv.cfg). Any
violation raises `UnsafeArchive`.

Speed: one thread must read the stream, but file and directory creation is what costs (on some
filesystems 0.1-1 ms of kernel time each), so the manifest's directory tree is made up front in
parallel (`_dirs`) and files are written from a thread pool while the stream is read (`_writer`).
The stream is read by `_tar.TarReader`, a strict reader of the tar subset the builder writes,
2-3 times faster than `tarfile` (whose header parsing dominates on a fast disk).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import tarfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import zstandard

from venvd.materialize._dirs import Directories
from venvd.materialize._paths import UnsafeArchive, unsafe_path_reason
from venvd.materialize._tar import TarReader
from venvd.materialize._writer import FileWriter, write_file

__all__ = ["MANIFEST_FORMAT", "MANIFEST_NAME", "ArchiveLimits", "Budget", "Members", "UnsafeArchive",
           "archive_budget", "default_workers", "extract_rest", "manifest_files", "open_archive",
           "read_manifest", "unsafe_path_reason"]

# These mirror venvd.builder's constants (the client does not import the builder).
MANIFEST_NAME = "venvd-manifest.json"
MANIFEST_FORMAT = "venvd-environment/1"
_MAX_MANIFEST_BYTES = 256 * 1024 * 1024
_CHUNK = 1024 * 1024
# Members up to _QUEUE_LIMIT are read whole and queued to the writers, at most _MAX_PENDING bytes
# at a time; larger ones are streamed to disk by the reading thread, in _CHUNK pieces.
_QUEUE_LIMIT = 8 * 1024 * 1024
_MAX_PENDING = 64 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what one archive may make the client do, whatever its manifest declares.

    `max_window`: the zstd window (decoder memory) a frame may ask for; the builder's frames use
    a few MiB. `max_members`/`max_expanded_size`: members and bytes of member data extracted.
    """

    max_window: int = 32 * 1024 * 1024
    max_members: int = 2_000_000
    max_expanded_size: int = 64 * 1024**3


@dataclasses.dataclass(frozen=True)
class Budget:
    """What `extract_rest` may still write; `why_*` say where each number comes from."""

    members: int
    expanded_size: int
    why_members: str
    why_size: str


def archive_budget(manifest: dict[str, Any], limits: ArchiveLimits) -> Budget:
    """The manifest's declared member count and expanded size, refused (UnsafeArchive) when they
    pass `limits`; the bounds themselves when the manifest declares none (older builders)."""
    budget = []
    for key, bound, setting in (("members", limits.max_members, "max_members"),
                                ("expanded_size", limits.max_expanded_size, "max_expanded_size")):
        declared = manifest.get(key)
        if declared is None:
            budget.append((bound, f"the client's bound {setting}={bound}"))
            continue
        if not isinstance(declared, int) or isinstance(declared, bool) or declared < 0:
            raise UnsafeArchive(f"the manifest's {key} is not a count: {declared!r:.100}")
        if declared > bound:
            raise UnsafeArchive(f"the manifest declares {key} {declared}, above the client's bound "
                                f"{setting}={bound}")
        budget.append((declared, f"its manifest declares {declared}"))
    (members, why_members), (size, why_size) = budget
    return Budget(members, size, why_members, why_size)


@contextlib.contextmanager
def open_archive(path: Path, max_window: int = ArchiveLimits.max_window) -> Iterator[TarReader]:
    """The archive as a stream of members (in order, each readable once), read strictly; a zstd
    frame asking for a window above `max_window` bytes raises zstandard.ZstdError."""
    with path.open("rb") as raw:
        decompressor = zstandard.ZstdDecompressor(max_window_size=max_window)
        yield TarReader(decompressor.stream_reader(raw, read_across_frames=True))


class _Data(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Members(Protocol):
    """A tar stream: `TarReader`, or a `tarfile.TarFile` opened in stream mode ("r|")."""

    def next(self) -> tarfile.TarInfo | None: ...

    def extractfile(self, member: tarfile.TarInfo, /) -> _Data | None: ...


def read_manifest(tf: Members) -> dict[str, Any]:
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


def manifest_files(manifest: dict[str, Any]) -> list[str]:
    """Every file the manifest's packages list, in order (UnsafeArchive if malformed)."""
    packages = manifest.get("packages", [])
    if not isinstance(packages, list):
        raise UnsafeArchive("the manifest's packages are not a list")
    files: list[str] = []
    for package in packages:
        listed = package.get("files", []) if isinstance(package, dict) else None
        if not isinstance(listed, list):
            raise UnsafeArchive(f"the manifest lists a malformed package: {package!r:.200}")
        files.extend(listed)
    return files


def extract_rest(tf: Members, dest: Path, *, protected: frozenset[str],
                 expected_files: Iterable[str] = (), workers: int | None = None,
                 on_member: Callable[[int], None] | None = None,
                 budget: Budget | None = None) -> list[str]:
    """Extract every remaining member into `dest`; the relative paths of the files written.

    `expected_files` are the files the manifest lists: their directories are made before the
    first member is read, in parallel (UnsafeArchive if one of them is an unsafe path). Members
    are still checked one by one as they are read, and a member outside those directories gets
    its directories made then. Files are written by `workers` threads (default: one per CPU, at
    least 2; 0 writes everything in the calling thread) while this thread reads the stream.
    Files get mode 0o755 if any executable bit is set in the archive, else 0o644 (less the
    umask); directories are never made through a link that leaves `dest`.

    A member that would pass `budget` (more members, or more bytes of data in total) raises
    UnsafeArchive before anything of it is written.

    When this returns, every file is written; when it raises, no worker is writing any more
    (the caller then removes what was written).
    """
    root = os.path.realpath(dest)
    # A protected path already there is refused as a directory by its lstat (a file, or a link
    # out); one not there yet (the lock, written last) must not become a directory either.
    absent = frozenset(p for p in protected | {MANIFEST_NAME}
                       if not os.path.lexists(os.path.join(root, p)))
    dirs = Directories(root, absent)
    umask = os.umask(0)
    os.umask(umask)
    count = default_workers() if workers is None else workers
    pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="venvd-extract") if count else None
    try:
        dirs.create_tree(_directories_of(expected_files), pool)
        writer = FileWriter(pool, max_pending=_MAX_PENDING) if pool is not None else None
        written: list[str] = []
        members = expanded = 0
        # Not `for member in tf`: iteration restarts at the first member, the manifest already read.
        while (member := tf.next()) is not None:
            _check(member, protected)
            members += 1
            expanded += member.size
            if budget is not None:
                _check_budget(budget, members, expanded)
            parts = member.name.rstrip("/").split("/")
            if member.isdir():
                dirs.ensure(parts)
                continue
            target = os.path.join(dirs.ensure(parts[:-1]), parts[-1])
            mode = (0o755 if member.mode & 0o111 else 0o644) & ~umask
            source = tf.extractfile(member)
            assert source is not None  # a regular file
            if writer is not None and member.size <= _QUEUE_LIMIT:
                writer.write(member.name, target, source.read(), mode)
            elif writer is not None:
                writer.write_here(member.name, target, functools.partial(source.read, _CHUNK), mode)
            else:
                write_file(member.name, target, functools.partial(source.read, _CHUNK), mode)
            written.append(member.name)
            if on_member is not None:
                on_member(len(written))
        if writer is not None:
            writer.finish()
        return written
    finally:
        if pool is not None:
            # On failure: start nothing more, and return only once no worker writes into `dest`.
            pool.shutdown(wait=True, cancel_futures=True)


def default_workers() -> int:
    # Creating a file is mostly kernel CPU time (measured on ext4: 2, 4 and 8 writers on 2 CPUs
    # finish alike, more threads only burn more system time in contention): one per CPU, at
    # least 2 so that writing overlaps reading, at most 8.
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on macOS or Windows
        cpus = os.cpu_count() or 1
    return min(8, max(2, cpus))


def _directories_of(files: Iterable[str]) -> set[str]:
    """The parent directories of the manifest's files (UnsafeArchive for an unsafe path)."""
    found: set[str] = set()
    for path in files:
        if not isinstance(path, str):
            raise UnsafeArchive(f"the manifest lists a file that is not a path: {path!r}")
        reason = unsafe_path_reason(path)
        if reason:
            raise UnsafeArchive(f"the manifest lists a file whose path {reason}: {path!r}")
        head, sep, _ = path.rpartition("/")
        if sep:
            found.add(head)
    return found


def _check_budget(budget: Budget, members: int, expanded: int) -> None:
    if members > budget.members:
        raise UnsafeArchive(f"the archive holds more than {budget.members} members "
                            f"({budget.why_members})")
    if expanded > budget.expanded_size:
        raise UnsafeArchive(f"the archive expands to more than {budget.expanded_size} bytes "
                            f"({budget.why_size})")


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
