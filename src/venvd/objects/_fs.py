"""`FileObjectStore`: objects as files under one directory (the embedded default, or a shared mount).

The layout is the builder's cache layout (``data_dir/cache``), so the default needs no copy: a key is
a relative path. Writes go to a ``.tmp-`` sibling, are fsynced and renamed into place. Last use is the
file's mtime, set on every use (`touch`): atime is unreliable (``relatime``, ``noatime`` mounts) and
a separate table would have to be kept in step with the files across processes; the directory itself
is then the one truth GC reads.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from venvd.objects._base import TEMP_PREFIX, ObjectInfo

__all__ = ["FileObjectStore"]


class FileObjectStore:
    name = "filesystem"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"not an object key: {key!r}")
        return self.root.joinpath(*parts)

    @contextlib.contextmanager
    def _staged(self, key: str) -> Iterator[Path]:
        final = self._path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}-{final.name}"
        try:
            yield tmp
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, key: str, path: Path) -> None:
        if self.local_path(key) == Path(path):
            return
        with self._staged(key) as tmp:
            shutil.copyfile(path, tmp)

    def put_stream(self, key: str, stream: BinaryIO) -> None:
        with self._staged(key) as tmp, tmp.open("wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)

    def get_file(self, key: str, dest: Path) -> None:
        source = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f"{TEMP_PREFIX}{secrets.token_hex(8)}-{dest.name}")
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def open_range(self, key: str, start: int = 0, end: int | None = None,
                   block: int = 1 << 20) -> Iterator[bytes]:
        # Opened before the first block: a file unlinked afterwards (by GC) is still read whole,
        # since the open descriptor keeps its inode.
        fh = self._path(key).open("rb")
        return _blocks(fh, start, end, block)

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return ObjectInfo(key, st.st_size, st.st_mtime)

    def touch(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            os.utime(self._path(key))

    def delete(self, key: str) -> None:
        # The file only: a writer may be about to create a temp name in its directory (it made
        # the directory a moment ago), and removing that would fail its write.
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        top = self.root / base if base else self.root
        for dirpath, _dirs, files in os.walk(top):
            for name in files:
                if name.startswith(TEMP_PREFIX):
                    continue
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                yield ObjectInfo(key, st.st_size, st.st_mtime)

    def presigned_url(self, key: str, expires: float) -> str | None:
        return None

    def local_path(self, key: str) -> Path | None:
        return self._path(key)


def _blocks(fh: BinaryIO, start: int, end: int | None, block: int) -> Iterator[bytes]:
    with fh:
        fh.seek(start)
        remaining = None if end is None else end - start + 1
        while remaining is None or remaining > 0:
            data = fh.read(block if remaining is None else min(block, remaining))
            if not data:
                return
            if remaining is not None:
                remaining -= len(data)
            yield data
