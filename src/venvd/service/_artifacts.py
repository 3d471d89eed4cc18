"""`Artifacts`: environments' archives in the object store, the leases that keep GC off what is in
use, and the periodic GC.

Artifacts live in the object store (`venvd.objects`, setting `object_store`): an environment record
keeps its artifact's object key, so any API node serves an artifact any worker built. A running build
leases the cache keys its lock names, and a download its artifact, so GC leaves them alone; an artifact
GC collected is rebuilt (byte-identical) on the next request for it. With an object store other than
the local cache (S3, a shared mount), wheels, built wheels and fragments are shared through it too
(`BuildCache.shared`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

from venvd.builder import Artifact, BuildCache
from venvd.errors import NoSpaceLeft, NotFound, UpstreamError
from venvd.lock import Lock
from venvd.objects import ObjectInfo, artifact_key, is_no_space, open_object_store, parse_size
from venvd.service._gc import PeriodicGc
from venvd.service.settings import Settings
from venvd.store import EnvironmentRecord, Store

__all__ = ["Artifacts"]

_log = logging.getLogger("venvd.artifacts")

# How long a build's leases outlive its time limit if it never releases them (a crash).
_LEASE_SLACK_SECONDS = 300.0
_UNFINISHED = ("queued", "building")


class Artifacts:
    """Thread-safe; `rebuild(record)` queues the build of a ready environment whose artifact is gone."""

    def __init__(self, store: Store, cache: BuildCache, settings: Settings,
                 rebuild: Callable[[EnvironmentRecord], None]) -> None:
        self._store = store
        self._cache = cache
        self._rebuild = rebuild
        self._build_lease = timedelta(seconds=settings.build_timeout * 3 + _LEASE_SLACK_SECONDS)
        self.objects = open_object_store(settings.object_store, cache.root,
                                         endpoint_url=settings.s3_endpoint_url)
        # The filesystem default is the build cache itself: nothing to copy or share.
        self._objects_are_cache = self.objects.local_path("x") == cache.root / "x"
        if not self._objects_are_cache:
            cache.shared = self.objects
        self._gc = None if not settings.cache_max_size else PeriodicGc(
            store, self.objects, cache.root, max_size=parse_size(settings.cache_max_size),
            interval=settings.gc_interval, min_age=settings.gc_min_age)

    def close(self) -> None:
        if self._gc is not None:
            self._gc.stop()

    # -- builds ---------------------------------------------------------------------------------
    def lease_build(self, env_id: str, lock: Lock, owner_token: str) -> str:
        """Keep from GC, for one build, every cache key its lock names: its artifact, and per file
        its download, built wheels and fragments (prefixes: they cover every layout). The holder,
        for `release`."""
        holder = f"build:{env_id}:{owner_token}"
        keys = [artifact_key(env_id), self._cache.key(self._cache.artifact_info_path(env_id))]
        for package in lock.packages:
            for file in package.files:
                sha = file.sha256
                keys += [f"wheels-v1/{sha[:2]}/{sha}/", f"built-v1/{sha}/", f"fragments-v1/{sha}/"]
        self._store.lease_objects(holder, keys, datetime.now(UTC) + self._build_lease)
        return holder

    def release(self, holder: str) -> None:
        try:
            self._store.release_objects(holder)
        except Exception:  # the lease expires by itself; what the caller was doing matters more
            _log.exception("cannot release the object leases of %s", holder)

    def publish(self, artifact: Artifact) -> str:
        """Put a built artifact into the object store (nothing to do when the store is the local
        cache); its object key. A full store is NoSpaceLeft(step="upload"), another failure
        UpstreamError; nothing is visible in the store after either."""
        key = artifact_key(artifact.key)
        if self._objects_are_cache:
            return key
        try:
            self.objects.put_file(key, artifact.path)
        except OSError as exc:
            if is_no_space(exc):
                raise NoSpaceLeft(f"no space left on device while uploading the artifact of "
                                  f"environment {artifact.key} to the object store: {exc}",
                                  step="upload") from None
            # Transient like an index outage: the next request builds (and uploads) again.
            raise UpstreamError(f"uploading the artifact of environment {artifact.key} to the "
                                f"object store ({self.objects.name}) failed: {exc}") from None
        # The shared copy is the one served; a local one would only fill this worker's disk.
        # Its fragments stay: they make the next build here a concatenation.
        artifact.path.unlink(missing_ok=True)
        return key

    # -- reads ----------------------------------------------------------------------------------
    @staticmethod
    def key(record: EnvironmentRecord) -> str:
        """The artifact's object key; records written before the object store hold a local path,
        whose key is derived from the id (the layout is the same)."""
        value = record.artifact_path or ""
        if not value or Path(value).is_absolute():
            return artifact_key(record.id)
        return value

    def info(self, record: EnvironmentRecord) -> ObjectInfo | None:
        """The artifact in the object store, or None; UpstreamError when the store fails."""
        key = self.key(record)
        try:
            return self.objects.stat(key)
        except OSError as exc:
            _log.warning("object store %s failed on %s: %s", self.objects.name, key, exc)
            raise UpstreamError(f"the object store ({self.objects.name}) failed: "
                                f"{exc.strerror or exc}") from None

    def get(self, record: EnvironmentRecord) -> ObjectInfo:
        """The artifact of a ready environment. NotFound when it is not built; while it is being
        built (again, after GC collected its artifact: that rebuild is queued here) NotFound
        carries ``details.building`` (the client follows the build, then downloads again)."""
        env_id = record.id
        if record.status != "ready" or not record.artifact_path:
            raise NotFound(f"environment {env_id} is {record.status}, it has no artifact yet",
                           id=env_id, status=record.status, building=record.status in _UNFINISHED)
        info = self.info(record)
        if info is None:
            self.collected(record)
        return info

    def collected(self, record: EnvironmentRecord) -> NoReturn:
        """The artifact is gone: queue its rebuild and raise the NotFound that says so."""
        self._rebuild(record)
        raise NotFound(f"the artifact of environment {record.id} was removed from the cache; it is "
                       "being rebuilt, ask for it again", id=record.id, building=True)

    def lease_download(self, key: str, seconds: float) -> str:
        """Keep `key` from GC for `seconds` for one download; the holder, for `release`."""
        holder = f"download:{secrets.token_hex(8)}"
        self._store.lease_objects(holder, [key], datetime.now(UTC) + timedelta(seconds=seconds))
        self.objects.touch(key)
        return holder

    def local_path(self, record: EnvironmentRecord) -> Path:
        """A local file holding the artifact (for the in-process client): the object itself on a
        filesystem store, else a copy fetched into the local cache."""
        info = self.get(record)
        local = self.objects.local_path(info.key)
        if local is not None:
            self.objects.touch(info.key)
            return local
        path = self._cache.artifact_path(record.id)
        self.objects.get_file(info.key, path)
        return path
