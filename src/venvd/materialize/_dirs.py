"""The directories of an extraction: made safely, one at a time or a whole tree up front in parallel.

A directory is "known" once it is checked to be a real directory under the root, or a symbolic
link that resolves to a directory inside the root (only the venv skeleton has links: ``lib64 ->
lib``; the archive never makes any). Each directory is checked once and its resolved path kept, so
files are opened at paths with no link in them (their last component is opened ``O_NOFOLLOW``).

`Directories.create_tree` exists because directory creation is slow on some filesystems (an ext4
without journal spends most of a ``mkdir`` scanning for inodes not recently deleted): the manifest
names every file, so the whole tree is made before the first file arrives, each depth level's
directories in parallel (their parents are the previous level, already checked).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from concurrent.futures import Executor

from venvd.materialize._paths import UnsafeArchive

__all__ = ["Directories"]

_BATCH = 16  # directories per task


class Directories:
    """Directories under `root` known to be real (or to resolve inside `root`), made on demand.

    `ensure` and `create_tree` are called from one thread; `create_tree` hands the work of each
    level to `pool` and records the results itself.
    """

    def __init__(self, root: str, reserved: frozenset[str] = frozenset()) -> None:
        self.root = root
        self.reserved = reserved  # relative paths that must never become directories
        self.known: dict[tuple[str, ...], str] = {(): root}

    def ensure(self, parts: list[str] | tuple[str, ...]) -> str:
        """The real path of directory `parts` (relative, already checked names), made if missing;
        UnsafeArchive if it cannot be made inside the root."""
        key = tuple(parts)
        found = self.known.get(key)
        if found is not None:
            return found
        self.ensure(key[:-1])
        path = self._make(key)
        self.known[key] = path
        return path

    def create_tree(self, directories: Iterable[str], pool: Executor | None) -> None:
        """Make every directory in `directories` ("/"-separated, already checked relative paths)
        and all their ancestors: parents before children, each level's directories in `pool`."""
        levels: dict[int, set[tuple[str, ...]]] = {}
        for directory in directories:
            parts = tuple(directory.split("/"))
            for depth in range(1, len(parts) + 1):
                levels.setdefault(depth, set()).add(parts[:depth])
        for depth in sorted(levels):
            todo = sorted(key for key in levels[depth] if key not in self.known)
            if pool is None or len(todo) <= _BATCH:
                made = self._make_all(todo)
            else:
                # Batches, not one task per directory: a task costs more than a fast mkdir.
                batches = [todo[i:i + _BATCH] for i in range(0, len(todo), _BATCH)]
                # Waits for the whole level (the next one needs it); raises the first failure.
                made = [path for paths in pool.map(self._make_all, batches) for path in paths]
            self.known.update(zip(todo, made, strict=True))

    def _make_all(self, keys: list[tuple[str, ...]]) -> list[str]:
        return [self._make(key) for key in keys]

    def _make(self, key: tuple[str, ...]) -> str:
        """Make (or check) directory `key` whose parent is known; its real path.

        ``mkdir`` first: it is what the common case needs, and it fails on anything already
        there, link or not, which is then looked at without following it.
        """
        rel = "/".join(key)
        if rel in self.reserved:
            raise UnsafeArchive(f"{rel} would replace a file of the venv itself")
        path = os.path.join(self.known[key[:-1]], key[-1])
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            pass
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            real = os.path.realpath(path)
            if os.path.commonpath([real, self.root]) != self.root or not os.path.isdir(real):
                raise UnsafeArchive(f"{rel} is a link out of the environment")
            return real
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafeArchive(f"{rel} is a file where a directory is needed")
        return path
