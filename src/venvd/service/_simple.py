"""The server as a package index (read side): what `/simple/{project}/` lists, and its files.

A project's listing is the upstream page, loaded lazily through the resolver's page machinery (the
memo and store while fresh for `page_ttl`, then revalidated with the stored ETag), never crawled;
plus, for each sdist on it, the wheel a builder of this deployment (any worker) built from that
sdist for this server's platform (its build key), as recorded in the store (`BuiltWheels`, one
query per listing). Only files with a known sha256 are listed: every byte served is verified
against it.

Files are served from the builder's cache (``wheels-v1``, content-addressed; built wheels from
``built-v1``), the Service's one `BuildCache`: shared through the object store when one is
configured, so a file one API node fetched from upstream (or a worker built) is read from the
store by the others. A file nobody holds is fetched from upstream on the first request (verified,
written under a temp name and renamed, so nothing can read it before the hash matched) and shared.
A file is served only when the current listing of its project has it under that sha256 and name:
the file route is not a proxy for arbitrary URLs.

PEP 658 metadata files: an upstream file's, when its index lists the metadata's sha256 (proxied,
verified, kept in the cache next to the files); a built wheel's, the exact METADATA bytes from the
wheel (its sha256 recorded with the wheel), so the advertised sha256 is that of the bytes served.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from venvd.builder import BuildCache
from venvd.builder._cache import no_space
from venvd.dist import DistFile, parse_dist_filename
from venvd.errors import NotFound, ProjectNotFound, UpstreamError
from venvd.service._built_wheels import wheel_metadata_bytes, write_metadata_file
from venvd.store import BuiltWheel, BuiltWheels, Store

__all__ = ["IndexFile", "SimpleIndex"]

_log = logging.getLogger("venvd.simple")

# The listings kept for reuse hold at most this many upstream files in all (a few hundred bytes
# each; PyPI's largest pages list some 10,000).
_LISTED_FILES = 200_000


@dataclasses.dataclass(frozen=True)
class IndexFile:
    """One file a project's listing offers. `upstream` is the index's entry to fetch it from;
    `path` is set instead for a wheel built from an sdist (its place in the cache, filled from the
    object store when this machine did not build it). `metadata_sha256`
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


# (upstream files, built wheel per upstream file, the listing, the built wheels' generation)
_Listing = tuple[tuple[DistFile, ...], tuple[IndexFile | None, ...], tuple[IndexFile, ...],
                 tuple[int, datetime | None]]
Fetch = Callable[[str, str, Path], None]  # (url, sha256, dest): verified, atomic (IndexClient.download)
ListPage = Callable[[NormalizedName], Sequence[DistFile]]  # the project's upstream files, cached


class SimpleIndex:
    """Listings and files of the package index; thread-safe.

    `list_page` gives a project's upstream files (empty when no index has it), `fetch` downloads
    a file verified against its sha256, `cache` is the builder's cache (downloads and built
    wheels, shared through the object store when there is one), `build_key` names this server's
    building interpreter (built wheels are recorded and cached under it), `indexes` are the
    configured index URLs (a stored page of another is not listed), `flush` waits for the page
    writes queued in the background (so the root lists them)."""

    def __init__(self, store: Store, list_page: ListPage, fetch: Fetch, cache: BuildCache,
                 build_key: Callable[[], str], indexes: Collection[str],
                 flush: Callable[[], None] | None = None) -> None:
        self._store = store
        self._flush = flush
        self._indexes = frozenset(indexes)
        self._built_rows = BuiltWheels(store)
        self._list_page = list_page
        self._fetch = fetch
        self._cache = cache
        self._build_key = build_key
        self._lock = threading.Lock()
        # One download per file at a time: its lock and how many requests hold or wait for it.
        self._fetching: dict[str, tuple[threading.Lock, int]] = {}
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
        # Read before the rows: a wheel recorded in between changes it, so the next listing
        # looks again. Unchanged, with the same upstream files, the built wheels are too: a page
        # of 2,000 sdists costs this one query instead of their lookup (measured in README).
        generation = self._built_rows.generation()
        with self._lock:
            previous = self._listings.get(name)
        same_upstream = (previous is not None and len(previous[0]) == len(upstream)
                         and all(a is b for a, b in zip(previous[0], upstream, strict=True)))
        if previous is not None and same_upstream and previous[3] == generation:
            files = previous[2]
        else:
            key = self._build_key()
            rows = self._built_rows.find(
                [d.sha256 for d in upstream if d.kind == "sdist" and d.sha256], key)
            built = tuple(self._built(d, rows[d.sha256], key)
                          if d.kind == "sdist" and d.sha256 in rows else None for d in upstream)
            if previous is not None and same_upstream and previous[1] == built:
                files = previous[2]
            else:
                files = tuple(self._files(upstream, built))
            self._remember(name, (tuple(upstream), built, files, generation))
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

    def _built(self, sdist: DistFile, row: BuiltWheel, key: str) -> IndexFile:
        """The listing entry of the wheel built from `sdist` (recorded as `row`)."""
        assert sdist.sha256 is not None
        return IndexFile(
            filename=row.filename, version=sdist.version, sha256=row.sha256, size=row.size,
            requires_python=row.requires_python or sdist.requires_python,
            yanked=sdist.yanked, upload_time=None, metadata_sha256=row.metadata_sha256,
            path=self._cache.built_dir(sdist.sha256, key) / row.filename)

    def _built_file(self, entry: IndexFile) -> Path:
        """The bytes of a listed built wheel: the local copy, else the object store's (checked
        against the recorded size and sha256 once, when fetched). NotFound when neither holds
        it (cache GC collected it: the next environment build needing it builds it again)."""
        path = entry.path
        assert path is not None
        if _has_size(path, entry.size):
            self._cache.touch(path)
            return path
        with self._fetch_lock(entry.sha256):
            # A local file of another size is another build's wheel (builds need not be
            # reproducible), which this machine's builds use: left alone, not served for this one.
            if not path.exists():
                with no_space("download", entry.filename):
                    fetched = self._cache.fetch_shared(path)
                if fetched and not _has_digest(path, entry.size, entry.sha256):
                    path.unlink(missing_ok=True)
            if not _has_size(path, entry.size):
                raise NotFound(f"{entry.filename} is no longer held by this server (an "
                               "environment build needing it builds it again)",
                               filename=entry.filename)
        self._cache.touch(path)
        return path

    def _built_metadata(self, entry: IndexFile) -> Path:
        """The PEP 658 file of a listed built wheel: from the cache or object store (the build
        that recorded the wheel wrote it), else extracted again from the wheel."""
        assert entry.metadata_sha256 is not None
        name = entry.filename + ".metadata"
        cached = self._cache.cached_file(entry.metadata_sha256, name, None)
        if cached is not None:
            return cached
        wheel = self._built_file(entry)
        try:
            data = wheel_metadata_bytes(wheel)
        except (OSError, zipfile.BadZipFile) as exc:
            _log.warning("cannot read the METADATA of built wheel %s: %s", wheel.name, exc)
            data = None
        if data is None or hashlib.sha256(data).hexdigest() != entry.metadata_sha256:
            raise NotFound(f"the metadata file of {entry.filename} changed",
                           filename=entry.filename)
        with no_space("write metadata file"):
            return write_metadata_file(self._cache, entry.metadata_sha256, entry.filename, data)

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
            return self._built_file(entry)
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
            return self._built_metadata(entry)
        assert entry.upstream is not None
        return self._cached_or_fetched(entry.metadata_sha256, name, None,
                                       entry.upstream.url + ".metadata")

    def _cached_or_fetched(self, sha256: str, filename: str, size: int | None, url: str) -> Path:
        cached = self._cache.cached_file(sha256, filename, size)
        if cached is not None:
            return cached
        with self._fetch_lock(sha256):  # a second request for the same file waits for the first
            cached = self._cache.cached_file(sha256, filename, size)
            if cached is not None:
                return cached
            dest = self._cache.wheel_path(sha256, filename)
            with no_space("download", filename):
                self._fetch(url, sha256, dest)
                # Shared once verified: the other nodes read it from the object store.
                self._cache.share(dest)
            return dest

    @contextlib.contextmanager
    def _fetch_lock(self, sha256: str) -> Iterator[None]:
        """Held while one file is fetched: a second request for it waits for the first."""
        with self._lock:
            lock, users = self._fetching.get(sha256, (threading.Lock(), 0))
            self._fetching[sha256] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, users = self._fetching[sha256]
                if users == 1:
                    del self._fetching[sha256]
                else:
                    self._fetching[sha256] = (lock, users - 1)


def _has_size(path: Path, size: int | None) -> bool:
    try:
        return path.stat().st_size == size or (size is None and path.is_file())
    except FileNotFoundError:
        return False


def _has_digest(path: Path, size: int | None, sha256: str) -> bool:
    """Whether `path` is `size` bytes hashing to `sha256` (read once, at its fetch)."""
    if not _has_size(path, size):
        return False
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest() == sha256
