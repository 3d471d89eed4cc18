"""Resolution with caching and request coalescing.

A request's key (`ResolveRequest.key`) names its answer: a stored lock is returned while fresh (for
`resolution_ttl`, or forever when `exclude_newer` pins the index state). Concurrent identical requests in
one process share one resolution (an in-memory future). Across processes on PostgreSQL, the one
resolving a key holds the store's lock named by it (`Store.exclusive`): an identical request at another
API node waits for it, within its own time budget, then finds the stored answer. (On SQLite, one
process: the in-memory coalescing is the whole story.)
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from venvd.dist import CoreMetadata, DistFile
from venvd.errors import ResolutionTimeout
from venvd.index import IndexClient
from venvd.lock import Lock, LockedFile
from venvd.resolver import ResolveOptions, ResolveReporter, resolve
from venvd.service._request import ResolveRequest
from venvd.service._source import Memo, PrivatePages, StoreBackedSource
from venvd.service._writer import BackgroundWriter
from venvd.store import Store
from venvd.target import Target

if TYPE_CHECKING:
    from venvd.builder import BuildCache

__all__ = ["ResolutionService", "ResolveResult"]


@dataclasses.dataclass(frozen=True)
class ResolveResult:
    lock: Lock
    key: str
    cached: bool
    timings: dict[str, float]
    stats: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.lock.to_json(),
            "cached": self.cached,
            "resolution_key": self.key,
            "timings": self.timings,
            "stats": self.stats,
        }

    def json_bytes(self) -> bytes:
        """`to_json()` as compact UTF-8 JSON (as the API's JSONResponse encodes it), the lock's
        part encoded once per lock."""
        tail = json.dumps({"cached": self.cached, "resolution_key": self.key,
                           "timings": self.timings, "stats": self.stats},
                          ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        return self.lock.json_members + b"," + tail[1:]


class ResolutionService:
    def __init__(
        self,
        store: Store,
        index: IndexClient,
        *,
        ttl: float,
        page_ttl: float,
        metadata_workers: int = 16,
        timeout: float | None = None,
        memo: Memo | None = None,
        answers_kept: int | None = None,
        answers_weight: int | None = None,
        work_dir: Path | None = None,
        downloads: BuildCache | None = None,
        private: PrivatePages | None = None,
    ) -> None:
        """`private`: the private indexes' files of a project, or None when they hold none of it
        (they then come before the index client's indexes; see `StoreBackedSource`)."""
        self._private = private
        self._work_dir = work_dir  # where direct references' files are downloaded to be read
        self._downloads = downloads  # or into the builder's download cache, when given
        self._timeout = timeout  # wall-time budget of one resolution (warming included)
        self._store = store
        self._index = index
        self._ttl = ttl
        self._page_ttl = page_ttl
        self._pool = ThreadPoolExecutor(max_workers=metadata_workers, thread_name_prefix="venvd-metadata")
        self._memo = memo if memo is not None else Memo()
        # Bounds of the remembered answers (settings resolution_cache_entries / _weight).
        self._answers_kept = _ANSWERS_KEPT if answers_kept is None else answers_kept
        self._answers_max_weight = _ANSWERS_WEIGHT if answers_weight is None else answers_weight
        self._writer = BackgroundWriter(batch=store.batch)
        self._inflight: dict[str, Future[ResolveResult]] = {}
        # Fresh answers by key, newest last: a cache hit in this process costs a dict lookup.
        self._answers: OrderedDict[str, tuple[ResolveResult, datetime | None]] = OrderedDict()
        self._answers_weight = 0  # files and packages held by _answers (see _weight)
        self._lock = threading.Lock()

    def flush(self) -> None:
        """Wait for queued cache writes (pages, metadata) to reach the store."""
        self._writer.flush()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._writer.close()

    def resolve(
        self,
        request: ResolveRequest,
        *,
        reporter: ResolveReporter | None = None,
        refresh: bool = False,
    ) -> ResolveResult:
        """Answer `request` from the cache, from an identical request in flight, or by resolving.

        Raises the resolver's errors (ResolutionImpossible, ProjectNotFound, ...) and the index's
        (UpstreamError, ...) unchanged.
        """
        started = time.perf_counter()
        key = request.key
        if not refresh:
            now = datetime.now(UTC)
            hit = self.remembered(request)
            if hit is not None:
                return hit
            stored = self._store.get_resolution(key, now)
            if stored is not None:
                lock = Lock.from_json(stored.lock)
                result = ResolveResult(lock, key, True, {"total_ms": _ms(started)}, {})
                self._remember(result, stored.expires_at)
                return result
        with self._lock:
            future = self._inflight.get(key)
            owner = future is None
            if owner:
                future = Future()
                self._inflight[key] = future
        assert future is not None
        if not owner:
            result = future.result()
            return dataclasses.replace(
                result, cached=True, timings={**result.timings, "total_ms": _ms(started)}
            )
        try:
            result = self._resolve_once(request, key, reporter, started, refresh)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            future.set_result(result)
            return result
        finally:
            with self._lock:
                self._inflight.pop(key, None)

    def _resolve_once(
        self, request: ResolveRequest, key: str, reporter: ResolveReporter | None, started: float,
        refresh: bool,
    ) -> ResolveResult:
        """Resolve, unless another process holding the key's lock stored the answer meanwhile
        (PostgreSQL); raises ResolutionTimeout when the wait for that lock uses up the budget."""
        if self._store.dialect != "postgresql":
            return self._resolve_now(request, key, reporter, started)
        asked_at = datetime.now(UTC)
        budget = None if self._timeout is None else self._timeout - (time.perf_counter() - started)
        with self._store.exclusive(f"resolution:{key}", budget) as held:
            if not held:
                raise ResolutionTimeout(
                    f"the resolution used up its {self._timeout:g} s budget (the "
                    "resolution_timeout setting) waiting for the same resolution on another "
                    "server", budget=self._timeout or 0.0)
            stored = self._store.get_resolution(key, datetime.now(UTC))
            # A refresh takes only an answer resolved after it was asked.
            if stored is not None and (not refresh or stored.created_at >= asked_at):
                lock = Lock.from_json(stored.lock)
                result = ResolveResult(lock, key, True, {"total_ms": _ms(started)}, {})
                self._remember(result, stored.expires_at)
                return result
            return self._resolve_now(request, key, reporter, started)

    def remembered(self, request: ResolveRequest) -> ResolveResult | None:
        """The fresh answer to `request` this process holds in memory, or None: a dict lookup that
        never blocks (an API route may call it on its event loop before going to a thread)."""
        started = time.perf_counter()
        remembered = self._answers.get(request.key)
        if remembered is None:
            return None
        result, expires_at = remembered
        if expires_at is not None and expires_at <= datetime.now(UTC):
            return None
        return dataclasses.replace(result, cached=True, timings={"total_ms": _ms(started)}, stats={})

    def _remember(self, result: ResolveResult, expires_at: datetime | None) -> None:
        """Keep an answer in memory, within _ANSWERS_KEPT entries and _ANSWERS_WEIGHT files and
        packages; an answer heavier than _ANSWER_MAX_WEIGHT is served from the store instead."""
        weight = _weight(result)
        if weight > _ANSWER_MAX_WEIGHT:
            return
        with self._lock:
            previous = self._answers.pop(result.key, None)
            if previous is not None:
                self._answers_weight -= _weight(previous[0])
            self._answers[result.key] = (result, expires_at)
            self._answers_weight += weight
            while self._answers and (len(self._answers) > self._answers_kept
                                     or self._answers_weight > self._answers_max_weight):
                _, (dropped, _) = self._answers.popitem(last=False)
                self._answers_weight -= _weight(dropped)

    def cache_sizes(self) -> dict[str, int]:
        """Entries held by this service's memory caches (each within its setting)."""
        return {**self._memo.sizes(), "resolutions": len(self._answers),
                "resolution_weight": self._answers_weight}

    def listed_files(
        self, names: list[str], target: Target
    ) -> dict[str, dict[tuple[str, str], DistFile]]:
        """Every file our indexes list for each of `names`, by (url, sha256), as the index lists it
        (its file name, the version and tags that name carries); pages from the caches when fresh.
        A project on no index maps to an empty dict."""
        source = StoreBackedSource(
            self._store,
            self._index,
            self._pool,
            self._memo,
            target,
            page_ttl=self._page_ttl,
            writer=self._writer,
            private=self._private,
        )
        listed: dict[str, dict[tuple[str, str], DistFile]] = {}
        try:
            for name in names:
                files = source.project_files(canonicalize_name(name)) or ()
                listed[name] = {(f.url, f.sha256): f for f in files if f.sha256}
        finally:
            source.close()
        return listed

    # -- the builder's MetadataSource ------------------------------------------------------------
    def expected(self, file: LockedFile) -> CoreMetadata | None:
        """The metadata resolution read for `file` (memory, else the store), or None."""
        key = f"sha256:{file.sha256}"
        return self._memo.metadata(key) or self._store.get_metadata(key)

    def forget(self, file: LockedFile) -> None:
        """`file`'s metadata was wrong: drop it, and every resolution pinning the file, from
        memory and the store, so the next resolution reads the metadata again."""
        key = f"sha256:{file.sha256}"
        self._memo.forget_metadata(key)
        self._store.forget_metadata(key, file.sha256)
        with self._lock:
            for answer_key, (result, _expires) in list(self._answers.items()):
                if any(f.sha256 == file.sha256 for p in result.lock.packages for f in p.files):
                    del self._answers[answer_key]

    def _resolve_now(
        self, request: ResolveRequest, key: str, reporter: ResolveReporter | None, started: float
    ) -> ResolveResult:
        source = StoreBackedSource(
            self._store,
            self._index,
            self._pool,
            self._memo,
            request.target,
            page_ttl=self._page_ttl,
            writer=self._writer,
            private=self._private,
        )
        try:
            direct = None
            if any(r.url for r in request.requirements):
                from venvd.service._direct import direct_files

                direct = direct_files(request.requirements, request.target, index=self._index,
                                      store=self._store, memo=self._memo, work_dir=self._work_dir,
                                      downloads=self._downloads)
            known = source.warm(r.name for r in request.requirements)
            warmed = time.perf_counter()
            opts = request.options
            lock = resolve(
                list(request.requirements),
                request.target,
                source,
                constraints=list(request.constraints),
                options=ResolveOptions(
                    prereleases=opts.prereleases,
                    prerelease=opts.prerelease,
                    exclude_newer=opts.exclude_newer,
                    only_binary=opts.only_binary,
                    no_binary=opts.no_binary,
                ),
                reporter=reporter,
                timeout=None if self._timeout is None else self._timeout - (warmed - started),
                budget=self._timeout,
                direct=direct,
            )
        finally:
            source.close()
        resolved = time.perf_counter()
        now = datetime.now(UTC)
        expires = None if request.options.exclude_newer else now + timedelta(seconds=self._ttl)
        self._store.put_resolution(key, request.canonical(), lock.to_json(), expires)
        timings = {
            "warm_ms": round((warmed - started) * 1000, 2),
            "resolve_ms": round((resolved - warmed) * 1000, 2),
            "total_ms": _ms(started),
        }
        result = ResolveResult(lock, key, False, timings, {**source.stats, "closure_projects": known})
        self._remember(result, expires)
        return result


_ANSWERS_KEPT = 1024
_ANSWERS_WEIGHT = 500_000  # files + packages (+ target tags / 10) of every remembered answer
_ANSWER_MAX_WEIGHT = 50_000


def _weight(result: ResolveResult) -> int:
    lock = result.lock
    tags = len(lock.target.get("compatible_tags") or ())
    return len(lock.packages) + sum(len(p.files) for p in lock.packages) + tags // 10


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)


def listing_disagreement(
    name: str, version: str, filename: str, size: int | None, entry: DistFile, target: Target
) -> str | None:
    """What about a (posted) lock's file contradicts the index's listing of it, or None."""
    if filename != entry.filename:
        return f"is listed as {entry.filename} at that URL"
    if size is not None and entry.size is not None and size != entry.size:
        # The builder trusts a lock's size to validate its cached download.
        return f"is listed with size {entry.size}, not {size}"
    if canonicalize_name(name) != entry.project:
        return f"is a file of {entry.project}, not of {name}"
    try:
        same_version = Version(version) == entry.version
    except InvalidVersion:
        return f"has an invalid version {version!r}"
    if not same_version:
        return f"is version {entry.version} by its name, not {version}"
    if entry.kind == "wheel" and target.tag_rank(entry.tags) is None:
        return "is a wheel whose tags do not fit the lock's target"
    return None
