"""Put cached files into a venv: reflink, hard link or copy (uv's link modes).

- ``reflink``: a copy-on-write clone (``FICLONE``: btrfs, XFS, bcachefs ...): as cheap as a link,
  and editing the venv's file leaves the cache alone. Where the filesystem cannot, a copy.
- ``hardlink``: the venv's file *is* the cache's: editing an installed file in place edits the
  cache too (the cache notices, by its mtime, and fetches that fragment again next time; tools that
  replace files, as pip does, are unaffected). Across filesystems, a copy.
- ``copy``: the bytes copied (in the kernel: ``copy_file_range``/``sendfile``).
- ``auto`` (the default, as uv): reflink where the filesystem supports it, else hard links.

Every file is created new (``O_EXCL`` for clones and copies; ``link`` never replaces), so nothing
is written through a link already in the venv. Modes come with the file (links) or are copied.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import Executor

from venvd.materialize._paths import UnsafeArchive

__all__ = ["LINK_MODES", "link_all"]

LINK_MODES = ("auto", "reflink", "hardlink", "copy")
_FICLONE = 0x40049409  # _IOW(0x94, 9, int), Linux
# Errors that say "this filesystem (pair) cannot", not "this file is wrong".
_CANNOT = frozenset({errno.EXDEV, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOTTY,
                     errno.ENOSYS, errno.EPERM, errno.EMLINK, errno.EBADF})
_BATCH = 64


def _reflink(src: str, dst: str) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: no FICLONE here (a copy or a hard link instead)
        raise OSError(errno.EOPNOTSUPP, "reflinks are not supported here") from None

    fd_src = os.open(src, os.O_RDONLY)
    try:
        mode = os.fstat(fd_src).st_mode & 0o7777
        fd_dst = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            fcntl.ioctl(fd_dst, _FICLONE, fd_src)
            os.fchmod(fd_dst, mode)
        except BaseException:
            os.close(fd_dst)
            os.unlink(dst)
            raise
        os.close(fd_dst)
    finally:
        os.close(fd_src)


def _copy(src: str, dst: str) -> None:
    with open(src, "rb") as fin:
        mode = os.fstat(fin.fileno()).st_mode & 0o7777
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with open(fd, "wb") as fout:
            shutil.copyfileobj(fin, fout)  # sendfile in the kernel on Linux
            os.fchmod(fout.fileno(), mode)


def _hardlink(src: str, dst: str) -> None:
    os.link(src, dst, follow_symlinks=False)


_METHODS = {"reflink": _reflink, "hardlink": _hardlink, "copy": _copy}


def link_all(pairs: Sequence[tuple[str, str]], mode: str, pool: Executor | None) -> str:
    """Make each ``dst`` of `pairs` from its ``src`` by `mode` (one of LINK_MODES), in `pool`;
    the method that was used for the first file ("reflink", "hardlink" or "copy").

    The first file decides what the filesystem can do; any file the chosen method cannot make
    falls back to a copy. Raises UnsafeArchive when a destination exists or cannot be made
    (another file or a directory there), OSError for other failures.
    """
    if mode not in LINK_MODES:
        raise ValueError(f"unknown link mode {mode!r}")
    if not pairs:
        return "copy" if mode == "copy" else mode
    order = {"auto": ("reflink", "hardlink", "copy"), "reflink": ("reflink", "copy"),
             "hardlink": ("hardlink", "copy"), "copy": ("copy",)}[mode]
    first_src, first_dst = pairs[0]
    chosen = order[-1]
    for name in order:
        try:
            _place(_METHODS[name], first_src, first_dst, fallback=False)
            chosen = name
            break
        except OSError as exc:
            if exc.errno not in _CANNOT or name == order[-1]:
                raise
    rest = pairs[1:]
    method: Callable[[str, str], None] = _METHODS[chosen]
    if pool is None or len(rest) <= _BATCH:
        _place_all(method, rest)
    else:
        batches = [rest[i:i + _BATCH] for i in range(0, len(rest), _BATCH)]
        for _ in pool.map(lambda batch: _place_all(method, batch), batches):
            pass  # raises the first failure
    return chosen


def _place_all(method: Callable[[str, str], None], pairs: Sequence[tuple[str, str]]) -> None:
    for src, dst in pairs:
        _place(method, src, dst, fallback=True)


def _place(method: Callable[[str, str], None], src: str, dst: str, *, fallback: bool) -> None:
    try:
        method(src, dst)
    except FileExistsError:
        raise UnsafeArchive(f"{dst} exists already (two packages, or a file where a directory "
                            "is needed)") from None
    except OSError as exc:
        if fallback and exc.errno in _CANNOT and method is not _copy:
            _copy(src, dst)
            return
        raise
