"""The builder's on-disk caches, under one root, each in a versioned directory.

    wheels-v1/<sha[:2]>/<sha256>/<filename>       downloads (wheels, sdists), content-addressed
    built-v1/<sdist sha256>/<build key>/<wheel>   wheels built from sdists, + built.json
    fragments-v1/<wheel sha256>/<layout>.tar.zst  an installed wheel: one zstd frame of tar members
    fragments-v1/<wheel sha256>/<layout>.json     the fragment's size, file list and scripts
    environments-v1/<env key>.tar.zst             artifacts, + <key>.json (sha256, size, manifest)

Every file is written under a ``.tmp-`` name in its final directory and renamed into place, so a
reader never sees a partial file and an interrupted writer leaves nothing but a temp name it removes
itself. Artifacts are published first-writer-wins (a hard link that refuses to replace), so once a
key has bytes they never change. Bump a directory's version when its format changes.

The paths relative to the root are the object keys of `venvd.objects` (the filesystem object store
is this directory). With a `shared` store elsewhere (S3, a shared mount), this directory is the
machine's working copy: a local miss is looked up in the shared store, and what a build writes
(wheels, built wheels, fragments) is shared after it is complete here, its commit marker (a
``.json``) last, so another worker that finds the marker finds the bytes.

Every cache hit `touch`es what it used (its mtime is its last use, which GC collects by), and a
full disk while writing is raised as NoSpaceLeft naming the step (`no_space`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from venvd.errors import NoSpaceLeft

__all__ = ["TEMP_PREFIX", "BuildCache", "SharedStore", "atomic_path", "no_space", "publish_once",
           "temp_sibling"]

TEMP_PREFIX = ".tmp-"
_log = logging.getLogger("venvd.builder")


class SharedStore(Protocol):
    """What the cache needs of a shared object store (`venvd.objects.ObjectStore` has it)."""

    def get_file(self, key: str, dest: Path) -> None: ...
    def put_file(self, key: str, path: Path) -> None: ...
    def touch(self, key: str) -> None: ...


class BuildCache:
    def __init__(self, root: Path, shared: SharedStore | None = None) -> None:
        self.root = Path(root)
        self.shared = shared
        self.wheels = self.root / "wheels-v1"
        self.built = self.root / "built-v1"
        self.fragments = self.root / "fragments-v1"
        self.environments = self.root / "environments-v1"

    def wheel_path(self, sha256: str, filename: str) -> Path:
        return self.wheels / sha256[:2] / sha256 / filename

    def cached_file(self, sha256: str, filename: str, size: int | None) -> Path | None:
        """The cached download, or None. A file of the wrong size (a torn disk write) is removed:
        the address is trusted, but the size check is cheap."""
        path = self.wheel_path(sha256, filename)
        try:
            actual = path.stat().st_size
        except FileNotFoundError:
            if not self.fetch_shared(path):
                return None
            actual = path.stat().st_size
        if size is not None and actual != size:
            path.unlink(missing_ok=True)
            return None
        self.touch(path)
        return path

    def touch(self, *paths: Path) -> None:
        """Record a use of cached files now (their mtime, and in the shared store), for
        least-recently-used GC."""
        for path in paths:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                os.utime(path)
            if self.shared is not None:
                try:
                    self.shared.touch(self.key(path))
                except OSError:
                    _log.warning("cannot record the use of %s in the shared store", path)

    def fetch_shared(self, *paths: Path) -> bool:
        """Copy these cache files from the shared store into place here (each whole or not at
        all); False when there is no shared store or one of them is not there."""
        if self.shared is None:
            return False
        for path in paths:
            if path.exists():
                continue
            try:
                self.shared.get_file(self.key(path), path)
            except FileNotFoundError:
                return False
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise
                _log.warning("cannot read %s from the shared store: %s", self.key(path), exc)
                return False
        return True

    def share(self, *paths: Path) -> None:
        """Put complete cache files into the shared store, in this order (the commit marker
        last). Another worker can always rebuild them: a failure other than a full store is
        logged, not raised."""
        if self.shared is None:
            return
        for path in paths:
            try:
                self.shared.put_file(self.key(path), path)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise
                _log.warning("cannot share %s: %s", self.key(path), exc)
                return

    def key(self, path: Path) -> str:
        """The object key of a path in this cache."""
        return path.relative_to(self.root).as_posix()

    def built_dir(self, sdist_sha256: str, build_key: str) -> Path:
        return self.built / sdist_sha256 / build_key

    def fragment_path(self, wheel_sha256: str, layout_key: str) -> Path:
        return self.fragments / wheel_sha256 / f"{layout_key}.tar.zst"

    def fragment_info_path(self, wheel_sha256: str, layout_key: str) -> Path:
        return self.fragments / wheel_sha256 / f"{layout_key}.json"

    def artifact_path(self, env_key: str) -> Path:
        return self.environments / f"{env_key}.tar.zst"

    def artifact_info_path(self, env_key: str) -> Path:
        return self.environments / f"{env_key}.json"


@contextlib.contextmanager
def no_space(step: str, package: str | None = None) -> Iterator[None]:
    """Raise a full disk (ENOSPC, EDQUOT) met in the block as NoSpaceLeft naming `step`."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        what = f" ({package})" if package else ""
        raise NoSpaceLeft(f"no space left on device during step {step!r}{what}: {exc.strerror}; "
                          "nothing was kept, ask again once space is freed",
                          package=package, step=step) from None


@contextlib.contextmanager
def atomic_path(final: Path, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temp path next to `final`; on success it replaces `final`, on error it is removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}-{final.name}"
    try:
        yield tmp
        if fsync:
            _fsync(tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def temp_sibling(final: Path) -> Iterator[Path]:
    """Yield a temp path next to `final` that is always removed on exit (the caller publishes)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}-{final.name}"
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def publish_once(tmp: Path, final: Path) -> bool:
    """Make `tmp`'s bytes visible at `final` unless `final` exists already; True if ours won.

    A hard link never replaces, which makes the first complete writer win atomically; filesystems
    without hard links fall back to a rename (identical bytes by construction, so only the
    immutability guarantee against a buggy writer is weaker there).
    """
    _fsync(tmp)
    try:
        os.link(tmp, final)
    except FileExistsError:
        return False
    except OSError:
        if final.exists():
            return False
        os.replace(tmp, final)
    return True


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
