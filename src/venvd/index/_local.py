"""Local sources: file:// indexes and find-links directories.

A file:// index is the directory tree `pip download`-style mirrors have:
`<root>/<project>/index.html` (PEP 503 HTML, links relative to that page). A find-links directory
is a flat folder of distributions; they carry no hashes, so their sha256 is computed here (cached
by path, size and mtime, since a directory is rescanned on every page request while its files
rarely change).
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from packaging.utils import NormalizedName

from venvd.dist import DistFile, parse_dist_filename

__all__ = ["HashCache", "file_url_path", "read_file_index_page", "scan_directory"]

CHUNK = 1 << 20


def file_url_path(url: str) -> Path:
    """The local path of a file:// URL."""
    parts = urlsplit(url)
    return Path(url2pathname(parts.path))


def read_file_index_page(project_url: str) -> bytes | None:
    """The HTML page of a project on a file:// index, or None when the index does not have it."""
    path = file_url_path(project_url)
    page = path / "index.html" if path.is_dir() else path
    try:
        return page.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def sha256_path(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class HashCache:
    """sha256 of local files keyed by (path, size, mtime); safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hashes: dict[tuple[str, int, int], str] = {}

    def sha256(self, path: Path) -> tuple[str, int]:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            known = self._hashes.get(key)
        if known is None:
            known = sha256_path(path)
            with self._lock:
                self._hashes[key] = known
        return known, stat.st_size


def scan_directory(directory: Path, project: NormalizedName, location: str,
                   hashes: HashCache) -> list[DistFile]:
    """The distributions of `project` in a find-links directory, hashed, in file-name order."""
    try:
        names = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    files = []
    for name in names:
        parsed = parse_dist_filename(name)
        # Hash only the project's own files: a big wheelhouse is not read for every request.
        if parsed is None or parsed[0] != project:
            continue
        path = directory / name
        if not path.is_file():
            continue
        sha256, size = hashes.sha256(path)
        dist = DistFile.from_filename(name, path.resolve().as_uri(), sha256=sha256, size=size,
                                      index_url=location)
        if dist is not None:
            files.append(dist)
    return files
