"""`Store`: the persistent state of venvd behind one small, thread-safe API.

One engine per Store, a session (and transaction) per call, so a Store may be shared by threads
and several processes may open the same database (SQLite file or PostgreSQL) at once. Opening runs
the migrations (see `_migrate`). Datetimes are timezone-aware UTC in and out; naive ones are
refused with ValueError. Names are canonicalized (PEP 503) on the way in.

Misses are return values (None, empty collections); `NotFound` is raised only when a call needs an
environment that does not exist.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from venvd.dist import CoreMetadata, DistFile
from venvd.store import _environments
from venvd.store._engine import WRITE_OPTION, create_engine
from venvd.store._graph import MAX_ROOTS, reachable_names
from venvd.store._locks import held
from venvd.store._migrate import upgrade
from venvd.store._models import (
    DependencyEdgeRow,
    FileRow,
    MetadataRow,
    ProjectRow,
    ResolutionRow,
)
from venvd.store._notify import EnvironmentListener, listener_connect_args
from venvd.store._records import (
    CachedPage,
    Closure,
    EnvironmentRecord,
    EnvironmentStatus,
    StoredResolution,
    file_from_row,
    file_rows,
    metadata_from_row,
)
from venvd.store._types import require_aware
from venvd.store._versions import in_key_range
from venvd.store.versionkey import version_sort_key

__all__ = ["DATABASE_FILENAME", "Store", "sqlite_url_for"]

# Versioned like every storage name. Migrations evolve the schema in place; the name changes only
# if some future change cannot carry the data over.
DATABASE_FILENAME = "venvd-v1.sqlite3"
# Bound parameters per IN list: well under SQLite's and PostgreSQL's limits.
_CHUNK = 500


def sqlite_url_for(data_dir: Path) -> str:
    """The SQLAlchemy URL of the default store file in `data_dir` (created on open if missing)."""
    return f"sqlite:///{(Path(data_dir) / DATABASE_FILENAME).resolve()}"


def _now() -> datetime:
    return datetime.now(UTC)


class Store:
    """The venvd database. Create with `Store.open(url)`; close with `close()` (or `with`)."""

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine whose database is already migrated; prefer `Store.open`."""
        self._engine = engine
        self._dialect = engine.dialect.name
        self._lock_engine: Engine | None = None  # PostgreSQL: connections holding named locks
        self._lock_engine_lock = threading.Lock()
        self._batch = threading.local()  # .session: the open `batch()` of this thread

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect to `url` and migrate its schema to the current revision."""
        engine = create_engine(url)
        try:
            upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        self._engine.dispose()
        if self._lock_engine is not None:
            self._lock_engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ping(self) -> None:
        """One round trip to the database (raises when it is unreachable)."""
        with self._engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._dialect

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Make the store calls of this thread inside the block one write transaction: committed
        when the block ends, rolled back whole when it raises (so a caller can then retry each
        call alone). Nested blocks join the outer one. For a queue of many small writes (the
        service's background writer): one BEGIN/COMMIT for all instead of one each."""
        if getattr(self._batch, "session", None) is not None:
            yield
            return
        with self._session(write=True) as session:
            self._batch.session = session
            try:
                yield
            finally:
                self._batch.session = None

    @contextmanager
    def _session(self, write: bool = False) -> Iterator[Session]:
        """A session in one transaction, committed on success; `write` takes SQLite's write lock
        at BEGIN (see `_engine`). Inside `batch()`, the batch's session."""
        batched: Session | None = getattr(self._batch, "session", None)
        if batched is not None:
            yield batched
            return
        with self._engine.connect() as conn:
            if write:
                conn.execution_options(**{WRITE_OPTION: True})
            with Session(bind=conn, expire_on_commit=False) as session, session.begin():
                yield session

    def _insert(self, entity: Any) -> Any:
        """The dialect's INSERT, for ON CONFLICT clauses (both dialects spell them the same)."""
        if self._dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(entity)
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(entity)

    # -- project pages -------------------------------------------------------------------------

    def get_project_page(self, name: str) -> CachedPage | None:
        """The stored page of project `name`, or None if it was never stored."""
        with self._session() as s:
            pages = self._pages(s, [canonicalize_name(name)])
        return next(iter(pages.values()), None)

    def put_project_page(self, name: str, index_url: str, files: Sequence[DistFile],
                         etag: str | None, fetched_at: datetime) -> None:
        """Store the page of project `name`, replacing its previous file list atomically."""
        name = canonicalize_name(name)
        require_aware(fetched_at)
        rows = file_rows(0, files)  # validates before writing
        with self._session(write=True) as s:
            stmt = self._insert(ProjectRow).values(
                name=name, index_url=index_url, etag=etag, fetched_at=fetched_at)
            stmt = stmt.on_conflict_do_update(
                index_elements=["name"],
                set_={"index_url": stmt.excluded.index_url, "etag": stmt.excluded.etag,
                      "fetched_at": stmt.excluded.fetched_at},
            ).returning(ProjectRow.id)
            project_id = s.execute(stmt).scalar_one()
            s.execute(sa.delete(FileRow).where(FileRow.project_id == project_id))
            if rows:
                for row in rows:
                    row["project_id"] = project_id
                _insert_many(s, cast(sa.Table, FileRow.__table__), rows)

    def project_names(self) -> list[NormalizedName]:
        """The names of every project whose page is stored, sorted (the package index's root)."""
        with self._session() as s:
            names = s.execute(sa.select(ProjectRow.name).order_by(ProjectRow.name)).scalars()
            return [NormalizedName(n) for n in names]

    def touch_project_page(self, name: str, fetched_at: datetime,
                           etag: str | None = None) -> bool:
        """Mark a stored page as revalidated (HTTP 304) at `fetched_at`; a new `etag` replaces the
        stored one, None keeps it. False when no page of `name` is stored."""
        values: dict[str, Any] = {"fetched_at": require_aware(fetched_at)}
        if etag is not None:
            values["etag"] = etag
        with self._session(write=True) as s:
            result = s.execute(sa.update(ProjectRow)
                               .where(ProjectRow.name == canonicalize_name(name))
                               .values(**values))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def versions(self, name: str, specifier: SpecifierSet | None = None, *,
                 prereleases: bool | None = None) -> list[Version]:
        """The distinct versions of the stored files of `name`, newest first.

        With a specifier, only those it admits, as ``specifier.filter(..., prereleases)`` decides
        (so by default pre-releases only when the specifier asks for them or nothing else
        matches); SQL pre-filters by sort key range first.
        """
        query = (sa.select(FileRow.version, FileRow.version_key).distinct()
                 .join(ProjectRow, ProjectRow.id == FileRow.project_id)
                 .where(ProjectRow.name == canonicalize_name(name))
                 .order_by(FileRow.version_key.desc()))
        if specifier is not None:
            query = query.where(*in_key_range(FileRow.version_key, specifier))
        with self._session() as s:
            rows = s.execute(query).all()
        # 1.0 and 1.0.0 are one version: keep one spelling per key, the same on every database.
        spellings: dict[str, str] = {}
        for text, key in rows:
            if key not in spellings or (len(text), text) < (len(spellings[key]), spellings[key]):
                spellings[key] = text
        found = [Version(text) for text in spellings.values()]
        if specifier is None:
            return found
        return list(specifier.filter(found, prereleases=prereleases))

    def _pages(self, s: Session, names: Iterable[str]) -> dict[str, CachedPage]:
        files = FileRow.__table__
        pages: dict[str, CachedPage] = {}
        file_lists: dict[str, list[DistFile]] = {}
        names = list(names)
        for start in range(0, len(names), _CHUNK):
            # Labels: `files` has columns named like these (id, index_url).
            query = (sa.select(ProjectRow.name.label("page_name"),
                               ProjectRow.index_url.label("page_index_url"),
                               ProjectRow.etag.label("page_etag"),
                               ProjectRow.fetched_at.label("page_fetched_at"), files)
                     .outerjoin(files, files.c.project_id == ProjectRow.id)
                     .where(ProjectRow.name.in_(names[start:start + _CHUNK]))
                     .order_by(ProjectRow.name, files.c.position))
            for row in s.execute(query):
                name = row.page_name
                if name not in pages:
                    file_lists[name] = []
                    pages[name] = CachedPage(name=NormalizedName(name),
                                             index_url=row.page_index_url,
                                             files=file_lists[name], etag=row.page_etag,
                                             fetched_at=row.page_fetched_at)
                if row.filename is not None:
                    file_lists[name].append(file_from_row(name, row))
        return pages

    # -- metadata ------------------------------------------------------------------------------

    def get_metadata(self, file_key: str) -> CoreMetadata | None:
        """The metadata stored for `file_key` (a `DistFile.cache_key`), or None."""
        return self.get_metadata_many([file_key]).get(file_key)

    def get_metadata_many(self, keys: Iterable[str]) -> dict[str, CoreMetadata]:
        """The stored metadata of those of `keys` that have some, by key."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, CoreMetadata] = {}
        with self._session() as s:
            for start in range(0, len(keys), _CHUNK):
                rows = s.scalars(sa.select(MetadataRow)
                                 .where(MetadataRow.file_key.in_(keys[start:start + _CHUNK])))
                found.update((row.file_key, metadata_from_row(row)) for row in rows)
        return found

    def put_metadata(self, file_key: str, meta: CoreMetadata) -> bool:
        """Store `meta` for `file_key` with one dependency edge per parseable Requires-Dist entry.

        Metadata is immutable: when `file_key` is already stored (or another caller stores it
        concurrently) nothing changes. True when this call stored it.
        """
        name = canonicalize_name(meta.name)
        with self._session(write=True) as s:
            stmt = self._insert(MetadataRow).values(
                file_key=file_key, name=name, version=str(meta.version),
                version_key=version_sort_key(meta.version),
                requires_python=meta.requires_python, requires_dist=list(meta.requires_dist),
                provides_extra=list(meta.provides_extra),
            ).on_conflict_do_nothing(index_elements=["file_key"]).returning(MetadataRow.id)
            metadata_id = s.execute(stmt).scalar_one_or_none()
            if metadata_id is None:
                return False
            edges = []
            parsed = meta.requirements()  # parsed once per metadata, usually already
            if len(parsed) == len(meta.requires_dist):
                pairs = [(text, req.name) for text, req in zip(meta.requires_dist, parsed,
                                                               strict=True)]
            else:
                pairs = []
                for text in meta.requires_dist:
                    try:
                        pairs.append((text, Requirement(text).name))
                    except InvalidRequirement:
                        continue  # unparseable entries are ignored, as requirements() does
            for text, dependency in pairs:
                edges.append({"metadata_id": metadata_id, "project": name,
                              "dependency": canonicalize_name(dependency), "requirement": text})
            if edges:
                s.execute(sa.insert(DependencyEdgeRow), edges)
            return True

    def closure(self, names: Iterable[str], *, pages: bool = True) -> Closure:
        """Everything stored about the projects reachable from `names` through Requires-Dist
        (extras and markers not evaluated, so a superset of any one target's needs).

        Three kinds of queries, each in batches of bounded size: ``WITH RECURSIVE`` for the names
        (one per MAX_ROOTS roots), then their pages (unless `pages` is false: a caller that keeps
        pages in memory skips the heaviest part), then their metadata.
        """
        roots = sorted({canonicalize_name(n) for n in names})
        if not roots:
            return Closure(names=frozenset(), pages={}, metadata={})
        with self._session() as s:
            found: set[str] = set()
            for start in range(0, len(roots), MAX_ROOTS):
                batch = [r for r in roots[start:start + MAX_ROOTS] if r not in found]
                if batch:
                    found.update(s.scalars(reachable_names(batch)))
            reachable = sorted(found)
            found_pages = self._pages(s, reachable) if pages else {}
            metadata: dict[str, CoreMetadata] = {}
            for start in range(0, len(reachable), _CHUNK):
                rows = s.scalars(sa.select(MetadataRow).where(
                    MetadataRow.name.in_(reachable[start:start + _CHUNK]))
                    .order_by(MetadataRow.file_key))
                metadata.update((row.file_key, metadata_from_row(row)) for row in rows)
        return Closure(names=frozenset(reachable), pages=found_pages, metadata=metadata)

    def forget_metadata(self, file_key: str, sha256: str) -> None:
        """Drop the metadata of `file_key` (its edges go with it) and every stored resolution whose
        lock pins the file of `sha256`: that metadata was found wrong, and what was resolved from
        it must be resolved again. Rare (an index serving wrong metadata), so a text match over
        the stored locks is fine."""
        with self._session(write=True) as s:
            s.execute(sa.delete(MetadataRow).where(MetadataRow.file_key == file_key))
            s.execute(sa.delete(ResolutionRow).where(
                sa.cast(ResolutionRow.lock, sa.Text).contains(f'"{sha256}"')))

    # -- resolutions ---------------------------------------------------------------------------

    def get_resolution(self, key: str, now: datetime | None = None) -> StoredResolution | None:
        """The resolution stored under `key` if still fresh at `now` (default: the current time)."""
        now = require_aware(now) or _now()
        with self._session() as s:
            row = s.scalars(sa.select(ResolutionRow).where(
                ResolutionRow.key == key,
                sa.or_(ResolutionRow.expires_at.is_(None), ResolutionRow.expires_at > now),
            )).one_or_none()
            if row is None:
                return None
            return StoredResolution(key=row.key, request=row.request, lock=row.lock,
                                    created_at=row.created_at, expires_at=row.expires_at)

    def put_resolution(self, key: str, request: dict[str, Any], lock: dict[str, Any],
                       expires_at: datetime | None, *, created_at: datetime | None = None) -> None:
        """Store (or replace) the resolution under `key`; `expires_at` None keeps it forever."""
        require_aware(expires_at)
        require_aware(created_at)
        with self._session(write=True) as s:
            stmt = self._insert(ResolutionRow).values(
                key=key, request=request, lock=lock, created_at=created_at or _now(),
                expires_at=expires_at)
            s.execute(stmt.on_conflict_do_update(
                index_elements=["key"],
                set_={"request": stmt.excluded.request, "lock": stmt.excluded.lock,
                      "created_at": stmt.excluded.created_at,
                      "expires_at": stmt.excluded.expires_at},
            ))

    @contextmanager
    def exclusive(self, name: str, timeout: float | None = None) -> Iterator[bool]:
        """Run the block holding the lock `name`, shared by every process on this database:
        True once held, False when `timeout` seconds passed first (then the block runs without
        it; None waits as long as it takes). PostgreSQL: an advisory lock (see `_locks`).
        SQLite: always True at once, not a lock (one process coalesces in memory)."""
        if self._dialect != "postgresql":
            yield True
            return
        with self._lock_engine_lock:
            if self._lock_engine is None:
                # NullPool: a lock is held as long as its work takes, on a connection of its own.
                self._lock_engine = sa.create_engine(self._engine.url, poolclass=sa.pool.NullPool)
            engine = self._lock_engine
        with held(engine, name, timeout) as acquired:
            yield acquired

    # -- environments (queries in _environments) -----------------------------------------------

    def get_environment(self, environment_id: str) -> EnvironmentRecord | None:
        with self._session() as s:
            return _environments.get(s, environment_id)

    def create_environment(self, environment_id: str, lock_id: str, target_key: str,
                           status: EnvironmentStatus = "queued", *,
                           roots: Iterable[str] = (), lock: Any | None = None,
                           request: Any | None = None) -> tuple[EnvironmentRecord, bool]:
        """Create the environment record unless it exists; exactly one of any number of racing
        callers gets ``created=True``, all get the stored record (an existing one unchanged).

        `roots` are the requested project names (the starts of `why` chains), `lock` the lock
        JSON, `request` whatever summary of the request the caller wants to show later.
        """
        now = _now()
        with self._session(write=True) as s:
            stmt = self._insert(_environments.EnvironmentRow).values(
                id=environment_id, lock_id=lock_id, target_key=target_key,
                status=_environments.check_status(status),
                roots=sorted({canonicalize_name(r) for r in roots}), lock=lock, request=request,
                created_at=now, updated_at=now,
            ).on_conflict_do_nothing(index_elements=["id"]).returning(
                _environments.EnvironmentRow.id)
            created = s.execute(stmt).scalar_one_or_none() is not None
            record = _environments.get(s, environment_id)
        assert record is not None  # inserted or already there, and environments are not deleted
        return record, created

    def update_environment(self, environment_id: str, **fields: Any) -> EnvironmentRecord:
        """Set some of: status, roots, lock, request, artifact_path, sha256, size, manifest, error,
        progress, owner_host, owner_pid, owner_start, owner_token (None clears one).

        `updated_at` is set to now. Raises NotFound for an unknown id, TypeError for an unknown
        field and ValueError for an unknown status.
        """
        with self._session(write=True) as s:
            return _environments.update(s, environment_id, fields, _now())

    def claim_environment(self, environment_id: str, expected_owner: str | None, /,
                          *, attempt: bool = False, **fields: Any) -> bool:
        """Set `fields` (as `update_environment`) on a `queued`/`building` environment only while
        the owner token `expected_owner` owns it (None: no owner recorded); True if this call
        changed it. Of racing callers expecting the same owner, exactly one wins. `attempt` also
        adds one to `attempts` (a build starts)."""
        with self._session(write=True) as s:
            return _environments.claim(s, environment_id, expected_owner, fields, _now(), attempt)

    def requeue_environment(self, environment_id: str, from_status: EnvironmentStatus, /,
                            **fields: Any) -> bool:
        """Set `fields` only while the environment's status is `from_status` (a `failed` or
        `ready` build queued again); True if this call changed it: of racing callers, one wins."""
        with self._session(write=True) as s:
            return _environments.requeue(s, environment_id, from_status, fields, _now())

    def mark_environment_published(self, environment_id: str, expected: datetime | None,
                                   published_at: datetime | None) -> bool:
        """Compare-and-set `published_at` from `expected` (None: never published); True if this
        call changed it. Of racing relays, one wins the right to publish a job."""
        with self._session(write=True) as s:
            return _environments.mark_published(s, environment_id, expected, published_at)

    def republish_candidates(self, *, quiet_for: float, lost_after: float, lease: float,
                             limit: int = 100) -> list[EnvironmentRecord]:
        """Unfinished builds that may have no job in the queue, quiet for `quiet_for` seconds:
        unclaimed and never published (or last published over `lost_after` seconds ago), or
        claimed by an owner silent for over `lease` seconds. Oldest first, at most `limit`."""
        now = _now()
        with self._session() as s:
            return _environments.republish_candidates(
                s, quiet_since=now - timedelta(seconds=quiet_for),
                lost_since=now - timedelta(seconds=lost_after),
                lease_since=now - timedelta(seconds=lease), limit=limit)

    def environments_progress(self, environment_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """`{"status", "progress", "error"}` of those of `environment_ids` that exist: what a
        progress stream shows, for many streams in one read."""
        with self._session() as s:
            return _environments.progress(s, environment_ids)

    def listen_environments(self, changed: Callable[[str], None],
                            resynced: Callable[[], None]) -> EnvironmentListener | None:
        """PostgreSQL: a started listener calling `changed(id)` after each committed write of an
        environment by any process, and `resynced()` after each (re)connection (changes made while
        it was away are not told; re-read what you watch). Stop it with `close()`. SQLite: None
        (poll `environments_progress`)."""
        if self._dialect != "postgresql":
            return None
        return EnvironmentListener(listener_connect_args(self._engine.url), changed,
                                   resynced).start()

    def unfinished_environments(self, host: str) -> list[EnvironmentRecord]:
        """Environments still `queued` or `building` whose recorded owner is a process on `host`
        (oldest update first): the candidates for recovery after a crash."""
        with self._session() as s:
            return _environments.unfinished(s, host)

    def set_environment_packages(self, environment_id: str,
                                 packages: Iterable[tuple[str, str]]) -> None:
        """Replace the (name, version) pairs the environment contains; NotFound if unknown."""
        with self._session(write=True) as s:
            _environments.set_packages(s, environment_id, packages)

    def environments_containing(self, name: str, version: str | None = None) -> list[str]:
        """Ids of the environments that contain project `name` (at `version`, if given), sorted."""
        with self._session() as s:
            return _environments.containing(s, canonicalize_name(name), version)

    def environment_counts(self) -> dict[str, int]:
        """How many environments are in each status (every status present, 0 when none): one
        GROUP BY on the status index, cheap enough for every metrics scrape."""
        with self._session() as s:
            rows = s.execute(sa.select(_environments.EnvironmentRow.status, sa.func.count())
                             .group_by(_environments.EnvironmentRow.status)).all()
        counts = dict.fromkeys(("queued", "building", "ready", "failed"), 0)
        counts.update({status: int(n) for status, n in rows})
        return counts

    def why(self, environment_id: str, name: str, *, limit: int = 100) -> list[list[str]]:
        """Dependency chains ``[root, ..., name]`` from the environment's roots to `name`.

        The shortest chains from each root that reaches `name` (at most `limit`, sorted), walking
        the stored Requires-Dist edges of the environment's pinned versions between packages the
        environment contains. [] when `name` is not in it; NotFound for an unknown environment.
        """
        with self._session() as s:
            return _environments.why(s, environment_id, canonicalize_name(name), limit)

    # -- object leases (what GC keeps) -------------------------------------------------------------

    def lease_objects(self, holder: str, keys: Iterable[str], expires_at: datetime) -> None:
        """Keep `keys` (object keys, or prefixes ending in "/") from GC for `holder` until
        `expires_at` (a later call for the same holder and key moves the expiry)."""
        from venvd.store._models import ObjectLeaseRow

        require_aware(expires_at)
        rows = [{"holder": holder, "key": key, "expires_at": expires_at} for key in sorted(set(keys))]
        if not rows:
            return
        with self._session(write=True) as s:
            for start in range(0, len(rows), _CHUNK):
                insert = self._insert(ObjectLeaseRow).values(rows[start:start + _CHUNK])
                s.execute(insert.on_conflict_do_update(
                    index_elements=["holder", "key"],
                    set_={"expires_at": insert.excluded.expires_at}))

    def release_objects(self, holder: str) -> None:
        """Drop every lease of `holder`."""
        from venvd.store._models import ObjectLeaseRow

        with self._session(write=True) as s:
            s.execute(sa.delete(ObjectLeaseRow).where(ObjectLeaseRow.holder == holder))

    def leased_objects(self, now: datetime | None = None) -> list[str]:
        """The keys and prefixes under an unexpired lease (expired leases are dropped on the way)."""
        from venvd.store._models import ObjectLeaseRow

        now = _now() if now is None else now
        require_aware(now)
        with self._session(write=True) as s:
            s.execute(sa.delete(ObjectLeaseRow).where(ObjectLeaseRow.expires_at <= now))
            return sorted(set(s.scalars(sa.select(ObjectLeaseRow.key))))


def _converted(fn: Callable[[Any], Any], memo: dict[int, Any], value: Any) -> Any:
    """`fn(value)`, once per value object: rows share objects for what they repeat (`file_rows`'
    tag lists), and every value stays alive in its row while the ids are in use."""
    key = id(value)
    if key in memo:
        return memo[key]
    converted = memo[key] = fn(value)
    return converted


def _insert_many(s: Session, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys) into `table` in one executemany.

    On SQLite straight through the driver, each value converted by its column type's own bind
    processor: SQLAlchemy's per-row parameter handling was most of the cost of storing a page of
    thousands of files (about 35 µs a row, measured on pyzmq's 4,500 files), and a cold resolution
    stores tens of thousands of rows. Elsewhere, SQLAlchemy Core's executemany.
    """
    connection = s.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite" or dialect.paramstyle != "qmark":
        s.execute(sa.insert(table), rows)
        return
    names = list(rows[0])
    # Columns read by one C-level getter; only those with a bind processor are converted.
    values: list[Any] = list(map(itemgetter(*names), rows)) if len(names) > 1 else \
        [(row[names[0]],) for row in rows]
    for i, name in enumerate(names):
        fn = table.c[name].type.bind_processor(dialect)
        if fn is not None:
            memo: dict[int, Any] = {}
            values = [(*v[:i], _converted(fn, memo, v[i]), *v[i + 1:]) for v in values]
    columns = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
    marks = ", ".join("?" * len(names))
    connection.exec_driver_sql(
        f"INSERT INTO {dialect.identifier_preparer.quote(table.name)} ({columns}) VALUES ({marks})",
        values)
