"""The client's cache of unpacked fragments, keyed by the fragment's sha256 (as uv keeps unpacked
wheels): a client that made an environment before links those files into the next one and
downloads only the fragments it lacks.

Layout (``files-v2``: bump the name when the layout changes)::

    <cache dir>/files-v2/<sha256[:2]>/<sha256>/entry.json   {"sha256", "package", "size",
                                                             "files": [[path, size, mtime_ns], ...]}
    <cache dir>/files-v2/<sha256[:2]>/<sha256>/files/<n>    the n-th file of "files", as unpacked
    <cache dir>/files-v2/.tmp/<random>/                     entries being made or removed

The files of an entry lie side by side, named by their place in the record, not in the fragment's
directory tree (``files-v1`` kept the tree): a venv needs its own directories anyway, and on the
filesystems measured a ``mkdir`` costs more than a file (the seed set has 2,500 directories for
3,800 files), so a fresh client makes each directory once, in the venv, rather than twice.

An entry is made under ``.tmp`` and renamed into place with its record, so a visible entry is
whole; concurrent clients making the same entry keep the first. The fragment's bytes were checked
against the manifest's sha256 before anything was unpacked. Before its files are linked into a
venv, each is compared with the record (regular file, size, mtime): editing an installed file
through a hard link changes its mtime, so a changed entry is detected, removed and fetched again,
never linked. (Hashing every file on each use would cost more than making the venv; a change that
keeps size and mtime is not detected, as in uv.)

Bounded: `prune` removes the least recently used entries (use touches ``entry.json``) until the
cache fits `max_size`, and leftovers of interrupted runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from venvd.errors import InputError

__all__ = ["CACHE_VERSION", "DEFAULT_MAX_SIZE", "CacheEntry", "FileCache", "parse_size"]

CACHE_VERSION = "files-v2"
_OLDER_VERSIONS = ("files-v1",)
DEFAULT_MAX_SIZE = 10 * 1024**3
_RECORD = "entry.json"
_FILES = "files"
_STALE_TMP = 3600.0  # seconds after which a temporary entry is an interrupted run's leftover


@dataclasses.dataclass(frozen=True)
class CacheEntry:
    """One unpacked fragment in the cache: its files, by path, under `tree`."""

    sha256: str
    tree: str  # the directory holding the files
    files: dict[str, tuple[int, int, int]]  # path -> (size, mtime_ns when unpacked, n)
    size: int

    def source(self, path: str) -> str:
        """Where the entry holds the file `path` (one of `files`)."""
        return f"{self.tree}/{self.files[path][2]}"


def parse_size(text: str) -> int:
    """``10G``, ``500M``, ``64K`` or plain bytes; InputError otherwise."""
    units = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    raw = text.strip().upper().removesuffix("B").removesuffix("I")
    number, unit = (raw[:-1], raw[-1]) if raw[-1:] in units and raw[-1:].isalpha() else (raw, "")
    try:
        value = int(float(number) * units[unit])
    except ValueError:
        raise InputError(f"not a size: {text!r} (use bytes, or a number with K, M, G or T)") from None
    if value < 0:
        raise InputError(f"not a size: {text!r}")
    return value


class FileCache:
    """Unpacked fragments under `root` (the cache directory; entries live in ``files-v2``)."""

    def __init__(self, root: Path, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.root = Path(root)
        self.max_size = max_size
        self.dir = self.root / CACHE_VERSION

    @classmethod
    def default(cls) -> FileCache:
        """The user's cache: ``VENVD_CLIENT_CACHE_DIR``, else platformdirs' user cache dir for venvd;
        bounded by ``VENVD_CLIENT_CACHE_MAX_SIZE`` (default 10 GiB)."""
        root = os.environ.get("VENVD_CLIENT_CACHE_DIR")
        if not root:
            import platformdirs

            root = platformdirs.user_cache_dir("venvd", appauthor=False)
        limit = os.environ.get("VENVD_CLIENT_CACHE_MAX_SIZE")
        return cls(Path(root), parse_size(limit) if limit else DEFAULT_MAX_SIZE)

    def _path(self, sha256: str) -> Path:
        return self.dir / sha256[:2] / sha256

    def get(self, sha256: str) -> CacheEntry | None:
        """The entry of fragment `sha256` as recorded, or None (not cached, or its record is
        unreadable). Its files are not looked at: see `intact`."""
        path = self._path(sha256)
        try:
            record: dict[str, Any] = json.loads((path / _RECORD).read_bytes())
            files = {str(f[0]): (int(f[1]), int(f[2]), n) for n, f in enumerate(record["files"])}
            if record["sha256"] != sha256:
                return None
            return CacheEntry(sha256, str(path / _FILES), files, int(record["size"]))
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            return None

    @staticmethod
    def intact(entry: CacheEntry, paths: list[str]) -> bool:
        """Whether each of `paths` (all of the entry's files, or those to be linked) is still the
        regular file that was unpacked (same size and mtime)."""
        tree = entry.tree
        for path in paths:
            recorded = entry.files.get(path)
            if recorded is None:
                return False
            try:
                st = os.lstat(f"{tree}/{recorded[2]}")
            except OSError:
                return False
            if (not stat.S_ISREG(st.st_mode) or st.st_size != recorded[0]
                    or st.st_mtime_ns != recorded[1]):
                return False
        return True

    @contextlib.contextmanager
    def pending(self) -> Iterator[Path]:
        """A fresh temporary entry directory (its files go in ``files``, named 0, 1, ... in the
        order given to `commit`), removed unless `commit` took it."""
        tmp = self.dir / ".tmp" / uuid.uuid4().hex
        (tmp / _FILES).mkdir(parents=True)
        try:
            yield tmp
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def commit(self, tmp: Path, sha256: str, package: str,
               files: dict[str, tuple[int, int]]) -> CacheEntry:
        """Make the temporary entry `tmp` the entry of `sha256` (first writer wins); `files` maps
        each path to (size, mtime_ns) of ``files/<n>``, n its place in `files`."""
        size = sum(size for size, _ in files.values())
        record = {"sha256": sha256, "package": package, "size": size,
                  "files": [[path, *info] for path, info in files.items()]}
        (tmp / _RECORD).write_text(json.dumps(record, separators=(",", ":")))
        final = self._path(sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.exists():
                raise
            existing = self.get(sha256)  # another client made it first
            if existing is not None:
                return existing
            self.discard(sha256)  # a broken one: replace it
            os.rename(tmp, final)
        return CacheEntry(sha256, str(final / _FILES),
                          {path: (*info, n) for n, (path, info) in enumerate(files.items())}, size)

    def discard(self, sha256: str) -> None:
        """Remove the entry of `sha256` (moved aside first, so it is never seen half-removed)."""
        final = self._path(sha256)
        aside = self.dir / ".tmp" / uuid.uuid4().hex
        aside.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(final, aside)
        except FileNotFoundError:
            return
        shutil.rmtree(aside, ignore_errors=True)

    def touch(self, entries: list[CacheEntry]) -> None:
        """Mark `entries` as just used (what `prune` keeps longest)."""
        for entry in entries:
            with contextlib.suppress(OSError):
                os.utime(Path(entry.tree).parent / _RECORD)

    def entries(self) -> list[tuple[str, int, float]]:
        """Every entry as (sha256, size, last use), least recently used first."""
        found = []
        if not self.dir.is_dir():
            return []
        for shard in self.dir.iterdir():
            if shard.name.startswith(".") or not shard.is_dir():
                continue
            for path in shard.iterdir():
                record = path / _RECORD
                try:
                    used = record.stat().st_mtime
                    size = int(json.loads(record.read_bytes())["size"])
                except (OSError, ValueError, KeyError, TypeError):
                    size, used = 0, 0.0  # a broken entry: first to go
                found.append((path.name, size, used))
        return sorted(found, key=lambda e: e[2])

    def prune(self, max_size: int | None = None) -> tuple[int, int]:
        """Remove leftovers of interrupted runs, then least recently used entries until the rest
        fits `max_size` (default: the cache's bound); (entries removed, bytes freed)."""
        bound = self.max_size if max_size is None else max_size
        removed = freed = 0
        tmp = self.dir / ".tmp"
        if tmp.is_dir():
            now = time.time()
            for leftover in tmp.iterdir():
                with contextlib.suppress(OSError):
                    if now - leftover.stat().st_mtime > _STALE_TMP:
                        shutil.rmtree(leftover, ignore_errors=True)
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        for sha256, size, _used in entries:
            if total <= bound:
                break
            self.discard(sha256)
            total -= size
            removed += 1
            freed += size
        return removed, freed

    def clean(self) -> tuple[int, int]:
        """Remove every entry, every remembered import check (`_checks`) and the entries of older
        layouts; (entries removed, bytes freed, of this layout)."""
        from venvd.materialize._checks import CHECKS_VERSION

        entries = self.entries()
        for sha256, _, _ in entries:
            self.discard(sha256)
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.root / CHECKS_VERSION, ignore_errors=True)
        for older in _OLDER_VERSIONS:  # layouts this venvd no longer reads
            shutil.rmtree(self.root / older, ignore_errors=True)
        return len(entries), sum(size for _, size, _ in entries)
