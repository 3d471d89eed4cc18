"""The resolver's PackageSource over the store (cache) and the index (truth).

Project pages: taken from the store while fresh (`page_ttl`), else revalidated with the stored ETag, else
fetched. Metadata: immutable per file, so memory → store → index, and stored forever once fetched.
`prefetch` fetches metadata on a shared thread pool so the resolver's next candidates are usually ready
by the time it asks (as uv does).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from packaging.utils import NormalizedName, canonicalize_name

from venvd.dist import CoreMetadata, DistFile
from venvd.index import IndexClient, NotModified
from venvd.store import CachedPage, Store

__all__ = ["MetadataMemo", "StoreBackedSource"]


class MetadataMemo:
    """Process-wide memo of immutable per-file metadata, bounded by entry count."""

    def __init__(self, limit: int = 200_000) -> None:
        self._data: dict[str, CoreMetadata] = {}
        self._lock = threading.Lock()
        self._limit = limit

    def get(self, key: str) -> CoreMetadata | None:
        return self._data.get(key)

    def put(self, key: str, meta: CoreMetadata) -> None:
        with self._lock:
            if len(self._data) >= self._limit:
                self._data.clear()  # crude but safe: everything here is also in the store
            self._data[key] = meta

    def update(self, items: dict[str, CoreMetadata]) -> None:
        for key, meta in items.items():
            self.put(key, meta)


class StoreBackedSource:
    """A PackageSource for one resolution: a consistent snapshot of pages, shared metadata caches."""

    def __init__(
        self,
        store: Store,
        index: IndexClient,
        pool: ThreadPoolExecutor,
        memo: MetadataMemo,
        *,
        page_ttl: float,
        offline: bool = False,
    ) -> None:
        # A page cached under another index configuration is not ours to use (the store keys
        # pages by project name only).
        config = index.config
        self._sources = {*config.index_urls, *config.find_links}
        self._store = store
        self._index = index
        self._pool = pool
        self._memo = memo
        self._page_ttl = timedelta(seconds=page_ttl)
        self._offline = offline
        self._pages: dict[NormalizedName, Sequence[DistFile] | None] = {}
        self._pending: dict[str, Future[CoreMetadata]] = {}
        self._page_pending: dict[NormalizedName, Future[Sequence[DistFile] | None]] = {}
        self._lock = threading.Lock()
        self.stats = {
            "pages_fetched": 0,
            "pages_revalidated": 0,
            "pages_cached": 0,
            "metadata_fetched": 0,
            "metadata_cached": 0,
        }

    def warm(self, names: Iterable[str]) -> int:
        """Load the known dependency closure of `names` (one recursive query); returns its size."""
        closure = self._store.closure([canonicalize_name(n) for n in names])
        now = datetime.now(UTC)
        for name, page in closure.pages.items():
            if self._ours(page) and now - page.fetched_at < self._page_ttl:
                self._pages[canonicalize_name(name)] = tuple(page.files)
                self.stats["pages_cached"] += 1
        self._memo.update(closure.metadata)
        return len(closure.pages)

    def _ours(self, page: CachedPage) -> bool:
        return page.index_url in self._sources

    # -- PackageSource ------------------------------------------------------------------------
    def project_files(self, name: NormalizedName) -> Sequence[DistFile] | None:
        if name in self._pages:
            return self._pages[name]
        with self._lock:
            future = self._page_pending.get(name)
        files = future.result() if future is not None else self._load_page(name)
        self._pages[name] = files
        return files

    def _prefetch_pages(self, meta: CoreMetadata) -> None:
        """Start loading the pages of `meta`'s dependencies: the resolver will want most of them
        next, and fetching them side by side hides the index's latency (uv does the same)."""
        with self._lock:
            for req in meta.requirements():
                name = canonicalize_name(req.name)
                if name in self._pages or name in self._page_pending:
                    continue
                self._page_pending[name] = self._pool.submit(self._load_page, name)

    def _load_page(self, name: NormalizedName) -> Sequence[DistFile] | None:
        cached = self._store.get_project_page(name)
        now = datetime.now(UTC)
        if cached is not None and not self._ours(cached):
            cached = None
        if cached is not None and (self._offline or now - cached.fetched_at < self._page_ttl):
            self.stats["pages_cached"] += 1
            return tuple(cached.files)
        page = self._index.project_page(name, etag=cached.etag if cached else None)
        if isinstance(page, NotModified):
            assert cached is not None
            self._store.touch_project_page(name, now, cached.etag)
            self.stats["pages_revalidated"] += 1
            return tuple(cached.files)
        if page is None:
            return None
        self._store.put_project_page(name, page.index_url, list(page.files), page.etag, now)
        self.stats["pages_fetched"] += 1
        return tuple(page.files)

    def metadata(self, file: DistFile) -> CoreMetadata:
        key = file.cache_key
        meta = self._memo.get(key)
        if meta is not None:
            self._prefetch_pages(meta)
            return meta
        with self._lock:
            future = self._pending.get(key)
        if future is not None:
            return future.result()
        return self._fetch(file)

    def prefetch(self, files: Sequence[DistFile]) -> None:
        with self._lock:
            for file in files:
                key = file.cache_key
                if key in self._pending or self._memo.get(key) is not None:
                    continue
                self._pending[key] = self._pool.submit(self._fetch, file)

    def _fetch(self, file: DistFile) -> CoreMetadata:
        key = file.cache_key
        meta = self._memo.get(key) or self._store.get_metadata(key)
        if meta is not None:
            self.stats["metadata_cached"] += 1
        else:
            meta = self._index.fetch_metadata(file)
            self._store.put_metadata(key, meta)
            self.stats["metadata_fetched"] += 1
        self._memo.put(key, meta)
        self._prefetch_pages(meta)
        return meta

    def close(self) -> None:
        """Forget unfinished prefetches; they finish on the pool and land in the caches anyway."""
        with self._lock:
            self._pending.clear()
            self._page_pending.clear()
