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
is this directory). Every cache hit `touch`es what it used (its mtime is its last use, which GC
collects by), and a full disk while writing is raised as NoSpaceLeft naming the step (`no_space`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from venvd.errors import NoSpaceLeft

__all__ = ["TEMP_PREFIX", "BuildCache", "atomic_path", "no_space", "publish_once", "temp_sibling"]

TEMP_PREFIX = ".tmp-"


class BuildCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
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
            return None
        if size is not None and actual != size:
            path.unlink(missing_ok=True)
            return None
        self.touch(path)
        return path

    def touch(self, *paths: Path) -> None:
        """Record a use of cached files now (their mtime), for least-recently-used GC."""
        for path in paths:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                os.utime(path)

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
