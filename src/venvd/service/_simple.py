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
import os
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from venvd.builder import BuildCache
from venvd.builder._cache import atomic_path, no_space
from venvd.dist import DistFile, parse_dist_filename
from venvd.errors import NotFound, ProjectNotFound, UpstreamError
from venvd.store import Store

__all__ = ["IndexFile", "SimpleIndex"]

_log = logging.getLogger("venvd.simple")

# The listings kept for reuse hold at most this many upstream files in all (a few hundred bytes
# each; PyPI's largest pages list some 10,000).
_LISTED_FILES = 200_000

# Core metadata larger than this in a built wheel is not offered as a PEP 658 file (the wheel
# still is): a METADATA is a few kB, a huge one is a malformed wheel we do not want to hold.
_MAX_METADATA = 8 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class IndexFile:
    """One file a project's listing offers. `upstream` is the index's entry to fetch it from;
    `path` is set instead for a wheel this server built (held in its cache). `metadata_sha256`
    is the sha256 of the PEP 658 file served for it, None when none is."""

    filename: str
    version: Version
    sha256: str
    size: int | None
    requires_python: str | None
    yanked: str | None
    upload_time: datetime | None
    metadata_sha256: str | None
    upstream: DistFile | None = None
    path: Path | None = None


_Listing = tuple[tuple[DistFile, ...], tuple[IndexFile | None, ...], tuple[IndexFile, ...]]
Fetch = Callable[[str, str, Path], None]  # (url, sha256, dest): verified, atomic (IndexClient.download)
ListPage = Callable[[NormalizedName], Sequence[DistFile]]  # the project's upstream files, cached


class SimpleIndex:
    """Listings and files of the package index; thread-safe.

    `list_page` gives a project's upstream files (empty when no index has it), `fetch` downloads
    a file verified against its sha256, `cache` is the builder's cache (downloads and built
    wheels), `build_key` names this server's building interpreter (built wheels are cached under
    it), `indexes` are the configured index URLs (a stored page of another is not listed),
    `flush` waits for the page writes queued in the background (so the root lists them)."""

    def __init__(self, store: Store, list_page: ListPage, fetch: Fetch, cache: BuildCache,
                 build_key: Callable[[], str], indexes: Collection[str],
                 flush: Callable[[], None] | None = None) -> None:
        self._store = store
        self._flush = flush
        self._indexes = frozenset(indexes)
        self._built_root = os.fspath(cache.built)
        self._built_seen: tuple[int, frozenset[str]] = (-1, frozenset())  # (mtime, names)
        self._list_page = list_page
        self._fetch = fetch
        self._cache = cache
        self._build_key = build_key
        self._lock = threading.Lock()
        self._fetching: dict[str, threading.Lock] = {}  # one download per file at a time
        self._built_metadata: dict[str, str | None] = {}  # built wheel sha256 → metadata sha256
        # The last listing of each project, as (upstream files, built wheel per upstream file,
        # the listing), newest last.
        self._listings: OrderedDict[NormalizedName, _Listing] = OrderedDict()
        self._listed_files = 0

    def projects(self) -> list[NormalizedName]:
        """The projects this server knows (their pages are stored); nothing is fetched."""
        if self._flush is not None:
            self._flush()
        return self._store.project_names()

    def listing(self, project: str) -> tuple[IndexFile, ...]:
        """The files of `project` (a normalized name), upstream first, each built wheel after the
        sdist it was built from. While neither the upstream page nor the built wheels changed,
        the same tuple is returned (so callers may cache what they derive from it by identity).
        Raises ProjectNotFound when no index lists a file of it, and the index's errors
        (UpstreamError, ...) when its page cannot be loaded."""
        name = canonicalize_name(project)
        upstream = self._upstream(name)
        held = self._built_sdists()
        built = tuple(self._built(d) if d.kind == "sdist" and d.sha256 in held else None
                      for d in upstream)
        with self._lock:
            previous = self._listings.get(name)
        if (previous is not None and previous[1] == built and len(previous[0]) == len(upstream)
                and all(a is b for a, b in zip(previous[0], upstream, strict=True))):
            files = previous[2]
        else:
            files = tuple(self._files(upstream, built))
            self._remember(name, (tuple(upstream), built, files))
        if not files:
            raise ProjectNotFound(name)
        return files

    def _files(self, upstream: Sequence[DistFile],
               built: Sequence[IndexFile | None]) -> Iterator[IndexFile]:
        for dist, wheel in zip(upstream, built, strict=True):
            if not dist.sha256:
                continue  # nothing to verify its bytes against: not offered
            yield IndexFile(
                filename=dist.filename, version=dist.version, sha256=dist.sha256, size=dist.size,
                requires_python=dist.requires_python, yanked=dist.yanked,
                upload_time=dist.upload_time,
                # Advertised only when the index gives its hash: a proxy must verify what it serves.
                metadata_sha256=dist.metadata_sha256 or None, upstream=dist)
            if wheel is not None:
                yield wheel

    def _remember(self, name: NormalizedName, entry: _Listing) -> None:
        """Keep the newest listings, within `_LISTED_FILES` files in all (oldest dropped first)."""
        with self._lock:
            dropped = self._listings.pop(name, None)
            if dropped is not None:
                self._listed_files -= len(dropped[0])
            if len(entry[0]) > _LISTED_FILES:
                return
            self._listings[name] = entry
            self._listed_files += len(entry[0])
            while self._listed_files > _LISTED_FILES:
                _, oldest = self._listings.popitem(last=False)
                self._listed_files -= len(oldest[0])

    def _upstream(self, name: NormalizedName) -> Sequence[DistFile]:
        """The upstream files of `name`; when the index fails after the page went stale, the
        stored page (what pip would have got a moment before), so that an outage upstream does
        not make the files this server holds unavailable."""
        try:
            return self._list_page(name)
        except UpstreamError as exc:
            stored = self._store.get_project_page(name)
            if stored is None or stored.index_url not in self._indexes:
                raise
            _log.warning("listing the stored page of %s (fetched %s): %s", name,
                         stored.fetched_at.isoformat(), exc.message)
            return stored.files

    def _built_sdists(self) -> frozenset[str]:
        """The sha256 of every sdist with a directory in the built-wheel cache: listed again only
        when that directory changed (its mtime), since a page can list thousands of sdists and
        most were never built here. A directory changed within the last second is listed every
        time: its mtime may not yet show a change made in the same clock tick."""
        try:
            mtime = os.stat(self._built_root).st_mtime_ns
        except FileNotFoundError:
            return frozenset()
        with self._lock:
            if self._built_seen[0] == mtime:
                return self._built_seen[1]
        names = frozenset(os.listdir(self._built_root))
        if time.time_ns() - mtime > 1_000_000_000:
            with self._lock:
                self._built_seen = (mtime, names)
        return names

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
            filename=filename, version=sdist.version, sha256=sha256, size=size,
            requires_python=sdist.requires_python,
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
            listed = ()
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
