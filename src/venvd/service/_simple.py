"""The server as a package index (read side): what `/simple/{project}/` lists, and its files.

A project's listing is the upstream page, loaded lazily through the resolver's page machinery (the
memo and store while fresh for `page_ttl`, then revalidated with the stored ETag), never crawled;
plus, for each sdist on it, the wheel this server built from that sdist for its own platform, when
the builder's cache holds one. Only files with a known sha256 are listed: every byte served is
verified against it.

Files are served from the builder's download cache (``wheels-v1``, content-addressed), fetched from
upstream on the first request (verified, written under a temp name and renamed, so nothing can
read them before the hash matched). A file is served only when the current listing of its
project has it under that sha256 and name: the file route is not a proxy for arbitrary URLs.

PEP 658 metadata files: an upstream file's, when its index lists the metadata's sha256 (proxied,
verified, kept in the cache next to the files); a built wheel's, the exact METADATA bytes from the
wheel, so the advertised sha256 is that of the bytes served.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
import zipfile
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from venvd.builder import BuildCache
from venvd.builder._cache import atomic_path, no_space
from venvd.dist import DistFile, parse_dist_filename
from venvd.errors import NotFound, ProjectNotFound
from venvd.store import Store

__all__ = ["IndexFile", "SimpleIndex"]

_log = logging.getLogger("venvd.simple")

# Core metadata larger than this in a built wheel is not offered as a PEP 658 file (the wheel
# still is): a METADATA is a few kB, a huge one is a malformed wheel we do not want to hold.
_MAX_METADATA = 8 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class IndexFile:
    """One file a project's listing offers. `upstream` is the index's entry to fetch it from;
    `path` is set instead for a wheel this server built (held in its cache). `metadata_sha256`
    is the sha256 of the PEP 658 file served for it, None when none is."""

    filename: str
    sha256: str
    size: int | None
    requires_python: str | None
    yanked: str | None
    upload_time: datetime | None
    metadata_sha256: str | None
    upstream: DistFile | None = None
    path: Path | None = None


Fetch = Callable[[str, str, Path], None]  # (url, sha256, dest): verified, atomic (IndexClient.download)
ListPage = Callable[[NormalizedName], Sequence[DistFile]]  # the project's upstream files, cached


class SimpleIndex:
    """Listings and files of the package index; thread-safe.

    `list_page` gives a project's upstream files (empty when no index has it), `fetch` downloads
    a file verified against its sha256, `cache` is the builder's cache (downloads and built
    wheels), `build_key` names this server's building interpreter (built wheels are cached under
    it)."""

    def __init__(self, store: Store, list_page: ListPage, fetch: Fetch, cache: BuildCache,
                 build_key: Callable[[], str]) -> None:
        self._store = store
        self._list_page = list_page
        self._fetch = fetch
        self._cache = cache
        self._build_key = build_key
        self._lock = threading.Lock()
        self._fetching: dict[str, threading.Lock] = {}  # one download per file at a time
        self._built_metadata: dict[str, str | None] = {}  # built wheel sha256 → metadata sha256

    def projects(self) -> list[NormalizedName]:
        """The projects this server knows (their pages are stored); nothing is fetched."""
        return self._store.project_names()

    def listing(self, project: str) -> list[IndexFile]:
        """The files of `project` (a normalized name), upstream first, each built wheel after the
        sdist it was built from. Raises ProjectNotFound when no index lists a file of it, and
        the index's errors (UpstreamError, ...) when its page cannot be loaded."""
        name = canonicalize_name(project)
        files: list[IndexFile] = []
        for dist in self._list_page(name):
            if not dist.sha256:
                continue  # nothing to verify its bytes against: not offered
            files.append(IndexFile(
                filename=dist.filename, sha256=dist.sha256, size=dist.size,
                requires_python=dist.requires_python, yanked=dist.yanked,
                upload_time=dist.upload_time,
                # Advertised only when the index gives its hash: a proxy must verify what it serves.
                metadata_sha256=dist.metadata_sha256 or None, upstream=dist))
            if dist.kind == "sdist":
                built = self._built(dist)
                if built is not None:
                    files.append(built)
        if not files:
            raise ProjectNotFound(name)
        return files

    def _built(self, sdist: DistFile) -> IndexFile | None:
        """The wheel built from `sdist` for this server's platform, when the cache holds it."""
        assert sdist.sha256 is not None
        directory = self._cache.built_dir(sdist.sha256, self._build_key())
        try:
            info = json.loads((directory / "built.json").read_text())
            filename, sha256, size = str(info["filename"]), str(info["sha256"]), int(info["size"])
            path = directory / filename
            if path.stat().st_size != size or "/" in filename:
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return IndexFile(
            filename=filename, sha256=sha256, size=size, requires_python=sdist.requires_python,
            yanked=sdist.yanked, upload_time=None,
            metadata_sha256=self._built_metadata_sha256(path, sha256), path=path)

    def _built_metadata_sha256(self, wheel: Path, sha256: str) -> str | None:
        """The sha256 of the built wheel's METADATA, written to the cache as its `.metadata`
        file the first time (None when the wheel has no readable one)."""
        with self._lock:
            if sha256 in self._built_metadata:
                return self._built_metadata[sha256]
        digest: str | None = None
        try:
            data = _wheel_metadata(wheel)
        except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
            _log.warning("cannot read the METADATA of built wheel %s: %s", wheel.name, exc)
            data = None
        if data is not None:
            digest = hashlib.sha256(data).hexdigest()
            dest = self._cache.wheel_path(digest, wheel.name + ".metadata")
            if not dest.exists():
                with no_space("write metadata file"), atomic_path(dest) as tmp:
                    tmp.write_bytes(data)
        with self._lock:
            self._built_metadata[sha256] = digest
        return digest

    def _find(self, sha256: str, filename: str) -> IndexFile:
        parsed = parse_dist_filename(filename)
        if parsed is None:
            raise NotFound(f"{filename!r} is not a distribution file name", filename=filename)
        try:
            listed = self.listing(parsed[0])
        except ProjectNotFound:
            listed = []
        for entry in listed:
            if entry.sha256 == sha256 and entry.filename == filename:
                return entry
        raise NotFound(f"no listing of this server has {filename} with sha256 {sha256}",
                       filename=filename, sha256=sha256)

    def file(self, sha256: str, filename: str) -> Path:
        """The verified bytes of a listed file, fetched from upstream on the first request.
        Raises NotFound for a file no listing has, HashMismatch/UpstreamError from upstream."""
        entry = self._find(sha256.lower(), filename)
        if entry.path is not None:
            return entry.path
        assert entry.upstream is not None
        return self._cached_or_fetched(entry.sha256, filename, entry.size, entry.upstream.url)

    def metadata(self, sha256: str, filename: str) -> Path:
        """The PEP 658 metadata file of a listed file (its bytes hash to the advertised sha256).
        Raises NotFound when none is offered for it."""
        entry = self._find(sha256.lower(), filename)
        if entry.metadata_sha256 is None:
            raise NotFound(f"no metadata file is served for {filename}", filename=filename)
        name = filename + ".metadata"
        if entry.path is not None:
            path = self._cache.wheel_path(entry.metadata_sha256, name)
            if not path.is_file():  # removed by cache GC since it was listed: write it again
                with self._lock:
                    self._built_metadata.pop(entry.sha256, None)
                if self._built_metadata_sha256(entry.path, entry.sha256) != entry.metadata_sha256:
                    raise NotFound(f"the metadata file of {filename} changed", filename=filename)
            return path
        assert entry.upstream is not None
        return self._cached_or_fetched(entry.metadata_sha256, name, None,
                                       entry.upstream.url + ".metadata")

    def _cached_or_fetched(self, sha256: str, filename: str, size: int | None, url: str) -> Path:
        cached = self._cache.cached_file(sha256, filename, size)
        if cached is not None:
            return cached
        with self._lock:
            lock = self._fetching.setdefault(sha256, threading.Lock())
        try:
            with lock:  # a second request for the same file waits for the first download
                cached = self._cache.cached_file(sha256, filename, size)
                if cached is not None:
                    return cached
                dest = self._cache.wheel_path(sha256, filename)
                with no_space("download", filename):
                    self._fetch(url, sha256, dest)
                return dest
        finally:
            with self._lock:
                self._fetching.pop(sha256, None)


def _wheel_metadata(wheel: Path) -> bytes | None:
    """The wheel's `<name>.dist-info/METADATA` bytes (the top-level dist-info's), or None."""
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            parts = info.filename.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                if info.file_size > _MAX_METADATA:
                    return None
                return zf.read(info)
    return None
