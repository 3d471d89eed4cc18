"""The resolver's PackageSource over the store (cache) and the index (truth).

Project pages: process memory, then the store, while fresh (`page_ttl`); else revalidated with the
stored ETag; else fetched. Metadata: immutable per file, so memory → store → index, stored forever once
fetched. `prefetch` fetches metadata on a shared thread pool, and every metadata that arrives starts
loading the pages of the dependencies it declares for the target, so the resolver's next questions are
usually answered by the time it asks them (as uv does).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from venvd.dist import CoreMetadata, DistFile
from venvd.index import IndexClient, NotModified
from venvd.service._writer import BackgroundWriter
from venvd.store import CachedPage, Store
from venvd.target import Target

__all__ = ["READ_AHEAD_CAP", "Memo", "PrivatePages", "StoreBackedSource"]

# The private indexes' files of a project, or None when none of them holds it (service/_private).
PrivatePages = Callable[[NormalizedName], Sequence[DistFile] | None]

# The most metadata read ahead at once for one project walked version by version.
READ_AHEAD_CAP = 32


class Memo:
    """Process-wide memory of metadata (immutable, by file key) and project pages (by name).

    Bounded by entry count, and pages also by the files they list in all (one page of a project
    with thousands of releases weighs as much as hundreds of small ones); when the metadata is full
    it is dropped whole, pages go oldest first. Either is safe: the store holds it all.

    It also remembers which projects' stored closures were loaded into it (`warmed`), so that a
    resolution does not read again from the store what this memory already holds.
    """

    def __init__(self, limit: int = 200_000, page_limit: int = 5_000,
                 page_files: int = 2_000_000) -> None:
        self._metadata: dict[str, CoreMetadata] = {}
        self._pages: dict[NormalizedName, CachedPage] = {}
        self._lock = threading.Lock()
        self._limit = limit
        self._page_limit = page_limit
        self._page_files_limit = page_files
        self._page_files = 0  # files listed by the pages held
        # Root project → (when, the names of its stored closure), whose metadata was loaded here.
        self._closures: dict[NormalizedName, tuple[float, frozenset[str]]] = {}

    def metadata(self, key: str) -> CoreMetadata | None:
        return self._metadata.get(key)

    def put_metadata(self, key: str, meta: CoreMetadata) -> None:
        with self._lock:
            if len(self._metadata) >= self._limit:
                self._metadata.clear()
                self._closures.clear()
            if self._limit:
                self._metadata[key] = meta

    def forget_metadata(self, key: str) -> None:
        with self._lock:
            self._metadata.pop(key, None)

    def warmed(self, names: Iterable[NormalizedName], max_age: float) -> frozenset[str] | None:
        """The union of the closures loaded for each of `names` within `max_age` seconds, or None
        unless all were."""
        found: set[str] = set()
        oldest = time.monotonic() - max_age
        for name in names:
            entry = self._closures.get(name)
            if entry is None or entry[0] < oldest:
                return None
            found |= entry[1]
        return frozenset(found)

    def put_warmed(self, names: Iterable[NormalizedName], closure: frozenset[str],
                   metadata: dict[str, CoreMetadata]) -> None:
        """Hold `metadata` (the stored closure of `names`, read at once), keeping objects already
        held (they carry their parsed requirements), and remember that it was loaded. Skipped when
        it would not fit: the closure would then be dropped before it served."""
        with self._lock:
            if len(self._metadata) + len(metadata) >= self._limit:
                return
            for key, meta in metadata.items():
                self._metadata.setdefault(key, meta)
            now = time.monotonic()
            for name in names:
                self._closures[name] = (now, closure)

    def page(self, name: NormalizedName) -> CachedPage | None:
        return self._pages.get(name)

    def sizes(self) -> dict[str, int]:
        """Entries held: metadata, pages and the pages' files (each within its limit)."""
        return {"metadata": len(self._metadata), "pages": len(self._pages),
                "page_files": self._page_files}

    def put_page(self, page: CachedPage) -> None:
        with self._lock:
            previous = self._pages.pop(page.name, None)
            if previous is not None:
                self._page_files -= len(previous.files)
            if len(page.files) > self._page_files_limit or not self._page_limit:
                return
            self._pages[page.name] = page
            self._page_files += len(page.files)
            while (len(self._pages) > self._page_limit
                   or self._page_files > self._page_files_limit):
                dropped = self._pages.pop(next(iter(self._pages)))
                self._page_files -= len(dropped.files)


class StoreBackedSource:
    """A PackageSource for one resolution: a consistent snapshot of pages, shared caches."""

    def __init__(
        self,
        store: Store,
        index: IndexClient,
        pool: ThreadPoolExecutor,
        memo: Memo,
        target: Target,
        *,
        page_ttl: float,
        writer: BackgroundWriter | None = None,
        private: PrivatePages | None = None,
    ) -> None:
        """`private`: the private indexes' files of a project (None: they hold none of it). A
        project they hold is taken from them only, never from the index client's indexes
        (first-index strategy), and never through the page caches (they answer per generation)."""
        self._private = private
        self._store = store
        self._writer = writer
        self._index = index
        self._pool = pool
        self._memo = memo
        self._target = target
        self._page_ttl = timedelta(seconds=page_ttl)
        # The store keys pages by project name only: a page cached under another index
        # configuration is not ours to use.
        config = index.config
        self._sources = {*config.index_urls, *config.find_links}
        self._pages: dict[NormalizedName, Sequence[DistFile] | None] = {}
        self._pending: dict[str, Future[CoreMetadata]] = {}
        self._page_pending: dict[NormalizedName, Future[Sequence[DistFile] | None]] = {}
        self._misses: dict[NormalizedName, int] = {}  # unannounced metadata waits, by project
        self._lock = threading.Lock()
        self.stats = {
            "pages_fetched": 0,
            "pages_revalidated": 0,
            "pages_cached": 0,
            "metadata_fetched": 0,
            "metadata_cached": 0,
        }

    def warm(self, names: Iterable[str]) -> int:
        """Load the stored metadata of the known dependency closure of `names` (one recursive query;
        pages load lazily, from memory when they can); returns the closure's size.

        Once per root project and `page_ttl`: the memo keeps what was loaded, and this process puts
        what it fetches later there too; what another server stores meanwhile is read per file, by
        `metadata`, when the resolver asks for it. (boto3's closure is 3,000 metadata rows: reading
        them again for every resolution took longer than the resolution itself.)"""
        roots = sorted({canonicalize_name(n) for n in names})
        known = self._memo.warmed(roots, self._page_ttl.total_seconds())
        if known is not None:
            return len(known)
        closure = self._store.closure(roots, pages=False)
        self._memo.put_warmed(roots, closure.names, closure.metadata)
        return len(closure.names)

    # -- pages --------------------------------------------------------------------------------
    def project_files(self, name: NormalizedName) -> Sequence[DistFile] | None:
        if name in self._pages:
            return self._pages[name]
        with self._lock:
            future = self._page_pending.get(name)
        files = future.result() if future is not None else self._load_page(name)
        self._pages[name] = files
        return files

    def _fresh(self, page: CachedPage | None, now: datetime) -> bool:
        return page is not None and page.index_url in self._sources and now - page.fetched_at < self._page_ttl

    def _load_page(self, name: NormalizedName) -> Sequence[DistFile] | None:
        if self._private is not None:
            private = self._private(name)
            if private is not None:
                return tuple(private)
        now = datetime.now(UTC)
        remembered = self._memo.page(name)
        if remembered is not None and self._fresh(remembered, now):
            self._count("pages_cached")
            return tuple(remembered.files)
        cached = self._store.get_project_page(name)
        if cached is not None and cached.index_url not in self._sources:
            cached = None
        if cached is not None and self._fresh(cached, now):
            self._memo.put_page(cached)
            self._count("pages_cached")
            return tuple(cached.files)
        page = self._index.project_page(name, etag=cached.etag if cached else None)
        if isinstance(page, NotModified):
            assert cached is not None
            self._write(self._store.touch_project_page, name, now, cached.etag)
            self._memo.put_page(_refreshed(cached, now))
            self._count("pages_revalidated")
            return tuple(cached.files)
        if page is None:
            return None
        self._write(self._store.put_project_page, name, page.index_url, list(page.files), page.etag, now)
        self._memo.put_page(CachedPage(name, page.index_url, list(page.files), page.etag, now))
        self._count("pages_fetched")
        return tuple(page.files)

    def _prefetch_pages(self, meta: CoreMetadata) -> None:
        """Start loading the pages of the dependencies `meta` declares for the target (extras
        aside): the resolver will want them next, and fetching them side by side hides latency."""
        with self._lock:
            for req in meta.requirements():
                name = canonicalize_name(req.name)
                if name in self._pages or name in self._page_pending:
                    continue
                if req.marker is not None and not self._target.evaluate(req.marker):
                    continue
                self._page_pending[name] = self._pool.submit(self._load_page, name)

    # -- metadata -----------------------------------------------------------------------------
    def metadata(self, file: DistFile) -> CoreMetadata:
        key = file.cache_key
        meta = self._memo.metadata(key)
        if meta is not None:
            self._prefetch_pages(meta)
            return meta
        with self._lock:
            future = self._pending.get(key)
        if future is not None:
            return future.result()
        self._read_ahead(file)
        return self._fetch(file)

    def _read_ahead(self, file: DistFile) -> None:
        """A metadata nobody announced is being waited for. The first such wait on a project is
        ordinary (a dependency read for the first time); from the second on, the resolver is
        walking the project's versions one at a time (botocore's, newest first, each ruled out
        by its urllib3 bound: one request in flight for seconds), so the files of the next older
        versions like this one (same kind, same tags) are prefetched: 4, then 8, 16, at most
        `READ_AHEAD_CAP`, as a file system reads ahead of a sequential reader."""
        with self._lock:
            misses = self._misses[file.project] = self._misses.get(file.project, 0) + 1
        files = self._pages.get(file.project)
        if misses < 2 or not files:
            return
        count = min(2 ** misses, READ_AHEAD_CAP)
        best: dict[Version, DistFile] = {}
        for other in files:
            if (other.version < file.version and other.kind == file.kind
                    and other.tags == file.tags and not other.is_yanked
                    and other.version not in best):
                best[other.version] = other
        ahead = [best[v] for v in sorted(best, reverse=True)[:count]]
        self.prefetch(ahead)

    def prefetch(self, files: Sequence[DistFile]) -> None:
        with self._lock:
            for file in files:
                key = file.cache_key
                if key in self._pending or self._memo.metadata(key) is not None:
                    continue
                self._pending[key] = self._pool.submit(self._fetch, file)

    def _fetch(self, file: DistFile) -> CoreMetadata:
        key = file.cache_key
        meta = self._memo.metadata(key) or self._store.get_metadata(key)
        if meta is not None:
            self._count("metadata_cached")
        else:
            meta = self._index.fetch_metadata(file)
            self._write(self._store.put_metadata, key, meta)
            self._count("metadata_fetched")
        self._memo.put_metadata(key, meta)
        self._prefetch_pages(meta)
        return meta

    def _write(self, fn: Callable[..., object], *args: object) -> None:
        """A cache write: in the background when there is a writer (the memo already has it)."""
        if self._writer is None:
            fn(*args)
        else:
            self._writer.submit(fn, *args)

    def _count(self, stat: str) -> None:
        with self._lock:
            self.stats[stat] += 1

    def close(self) -> None:
        """Forget unfinished prefetches; they finish on the pool and land in the caches anyway."""
        with self._lock:
            self._pending.clear()
            self._page_pending.clear()


def _refreshed(page: CachedPage, now: datetime) -> CachedPage:
    return CachedPage(page.name, page.index_url, page.files, page.etag, now)
