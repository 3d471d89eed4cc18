"""`Artifacts`: environments' archives in the object store, the leases that keep GC off what is in
use, and the periodic GC.

An artifact is served from the parts it is the concatenation of (its recipe, `venvd.objects.Recipe`:
the manifest frame, the cached fragments, the end frame), never copied into one more object first:
an environment of cached fragments costs its build the hashing, and its downloads the streaming. The
recipe lives in the object store (``environments-v1/<id>.json``) next to the fragments, and an
environment record keeps its object key, so any API node serves what any worker built. Records of
earlier versions name one stored archive (``environments-v1/<id>.tar.zst``, or a local path): those
are streamed as they are.

A running build leases the cache keys its lock names, and a download the recipe and every fragment
it streams, so GC leaves them alone; an artifact whose recipe or fragments GC collected is rebuilt
(byte-identical) on the next request for it. With an object store other than the local cache (S3, a
shared mount), wheels, built wheels and fragments are shared through it too (`BuildCache.shared`).

Presigned downloads (`presign_downloads`, S3): a URL can name one object only, and the point of a
redirect is to keep the bytes off the API nodes, so the first presigned download of an environment
writes its archive once as one object (``environments-v1/<id>.tar.zst``, collected by GC like any
other) and redirects to it; streaming through the API would defeat the setting's purpose.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

from venvd.builder import Artifact, BuildCache
from venvd.errors import NoSpaceLeft, NotFound, UpstreamError
from venvd.lock import Lock
from venvd.objects import (
    DELETING_PREFIX,
    ObjectStore,
    Recipe,
    artifact_key,
    is_no_space,
    open_recipe_range,
    parse_size,
    recipe_key,
)
from venvd.service._downloads import Leased, Served, touch_all
from venvd.service._gc import PeriodicGc
from venvd.service.settings import Settings
from venvd.store import EnvironmentRecord, Store

__all__ = ["Artifacts", "Served"]

_log = logging.getLogger("venvd.artifacts")

# How long a build's leases outlive its time limit if it never releases them (a crash).
_LEASE_SLACK_SECONDS = 300.0
_UNFINISHED = ("queued", "building")
# How long a download waits for a GC pass to finish removing (or keeping) one of its parts.
_ANNOUNCED_WAIT = 5.0


class Artifacts:
    """Thread-safe; `rebuild(record)` queues the build of a ready environment whose artifact is gone."""

    def __init__(self, store: Store, cache: BuildCache, settings: Settings,
                 objects: ObjectStore, *, rebuild: Callable[[EnvironmentRecord], None]) -> None:
        """`objects`: the Service's object store (opened once per Service). `cache` is the
        Service's, shared through that store already when the store is elsewhere
        (`_shared_cache`, which alone decides it)."""
        self._store = store
        self._cache = cache
        self._rebuild = rebuild
        self._build_lease = timedelta(seconds=settings.build_timeout * 3 + _LEASE_SLACK_SECONDS)
        self.objects = objects
        # The filesystem default is the build cache itself: nothing to copy or share.
        self._objects_are_cache = cache.shared is None
        self._gc = None if not settings.cache_max_size else PeriodicGc(
            store, self.objects, cache.root, max_size=parse_size(settings.cache_max_size),
            interval=settings.gc_interval, min_age=settings.gc_min_age)
        # Parsed recipes by key (a recipe's bytes never change; whether it still exists is asked
        # of the store on every use), bounded: a jupyter recipe is a few hundred parts.
        self._recipes: OrderedDict[str, Recipe] = OrderedDict()
        self._recipes_max = settings.recipe_cache_entries
        self._recipes_lock = threading.Lock()
        self._touches = ThreadPoolExecutor(max_workers=2, thread_name_prefix="venvd-touch")

    def close(self) -> None:
        if self._gc is not None:
            self._gc.stop()
        self._touches.shutdown(wait=True, cancel_futures=True)

    # -- builds ---------------------------------------------------------------------------------
    def lease_build(self, env_id: str, lock: Lock, owner_token: str) -> str:
        """Keep from GC, for one build, every cache key its lock names: its recipe (and archive),
        and per file its download, built wheels and fragments (prefixes: they cover every
        layout). The holder, for `release`."""
        holder = f"build:{env_id}:{owner_token}"
        keys = [artifact_key(env_id), recipe_key(env_id)]
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
        """Make a built artifact servable from the object store; the key of its recipe. With the
        local cache as the store it is there already; else every fragment it names that the store
        lacks is uploaded (GC may have collected one this worker still had), the recipe last, so
        a node that finds the recipe finds the parts. A full store is NoSpaceLeft(step="upload"),
        another failure UpstreamError."""
        key = recipe_key(artifact.key)
        if self._objects_are_cache:
            return key
        try:
            for part_key in self._missing(artifact.recipe.keys):
                self.objects.put_file(part_key, artifact.root / part_key)
            self.objects.put_file(key, artifact.recipe_path)
        except OSError as exc:
            if is_no_space(exc):
                raise NoSpaceLeft(f"no space left on device while uploading the artifact of "
                                  f"environment {artifact.key} to the object store: {exc}",
                                  step="upload") from None
            # Transient like an index outage: the next request builds (and uploads) again.
            raise UpstreamError(f"uploading the artifact of environment {artifact.key} to the "
                                f"object store ({self.objects.name}) failed: {exc}") from None
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

    def _failed(self, key: str, exc: OSError) -> NoReturn:
        _log.warning("object store %s failed on %s: %s", self.objects.name, key, exc)
        raise UpstreamError(f"the object store ({self.objects.name}) failed: "
                            f"{exc.strerror or exc}") from None

    def info(self, record: EnvironmentRecord) -> Served | None:
        """What serves the artifact, or None when it is gone (its recipe, or on a directory
        store one of its fragments; on S3 a missing fragment is found by the download, see
        `open`). UpstreamError when the store fails."""
        key = self.key(record)
        try:
            if not key.endswith(".json"):
                found = self.objects.stat(key)
                return None if found is None else Served(key, found.size, None)
            recipe = self._recipe(key)
            if recipe is None:
                return None
            for part_key in recipe.keys:
                path = self.objects.local_path(part_key)
                if path is None:
                    break  # not a directory: S3 HEADs per part would cost every request
                if not path.is_file():
                    return None
            return Served(key, recipe.size, recipe)
        except OSError as exc:
            self._failed(key, exc)

    def _recipe(self, key: str) -> Recipe | None:
        """The recipe at `key` (parsed once per process), or None when it is not in the store;
        one the builder cannot read (torn, another format) counts as missing: it is rebuilt."""
        from venvd.builder import read_recipe

        if self.objects.stat(key) is None:
            return None
        with self._recipes_lock:
            recipe = self._recipes.get(key)
            if recipe is not None:
                self._recipes.move_to_end(key)
                return recipe
        try:
            data = b"".join(self.objects.open_range(key))
        except FileNotFoundError:
            return None
        try:
            recipe = read_recipe(data)[0]
        except ValueError as exc:
            _log.warning("unusable recipe %s (%s): rebuilding it", key, exc)
            return None
        with self._recipes_lock:
            self._recipes[key] = recipe
            while len(self._recipes) > self._recipes_max:
                self._recipes.popitem(last=False)
        return recipe

    def cached_recipes(self) -> int:
        """How many parsed recipes this process holds (at most `recipe_cache_entries`)."""
        return len(self._recipes)

    def get(self, record: EnvironmentRecord) -> Served:
        """The artifact of a ready environment. NotFound when it is not built; while it is being
        built (again, after GC collected its artifact: that rebuild is queued here) NotFound
        carries ``details.building`` (the client follows the build, then downloads again)."""
        env_id = record.id
        if record.status != "ready" or not record.artifact_path:
            raise NotFound(f"environment {env_id} is {record.status}, it has no artifact yet",
                           id=env_id, status=record.status, building=record.status in _UNFINISHED)
        served = self.info(record)
        if served is None:
            self.collected(record)
        return served

    def collected(self, record: EnvironmentRecord, served: Served | None = None) -> NoReturn:
        """The artifact is gone: queue its rebuild and raise the NotFound that says so. When a
        part of `served` went missing, its recipe is dropped first, so every node sees it gone."""
        if served is not None and served.recipe is not None:
            self._forget(served)
        self._rebuild(record)
        raise NotFound(f"the artifact of environment {record.id} was removed from the cache; it is "
                       "being rebuilt, ask for it again", id=record.id, building=True)

    def _forget(self, served: Served) -> None:
        try:
            self.objects.delete(served.key)
        except OSError as exc:
            _log.warning("cannot drop the recipe %s whose parts are gone: %s", served.key, exc)

    def lease_download(self, keys: list[str], seconds: float) -> str:
        """Keep `keys` from GC for `seconds` for one download, and record their use; the holder,
        for `release`."""
        holder = f"download:{secrets.token_hex(8)}"
        self._store.lease_objects(holder, keys, datetime.now(UTC) + timedelta(seconds=seconds))
        if self.objects.local_path(keys[0]) is not None:
            for key in keys:
                self.objects.touch(key)  # a utime each
        else:
            # On S3 a touch is a request (at most hourly per key): off the download's path. The
            # lease, not the touch, is what keeps GC off the objects while they are streamed.
            self._touches.submit(touch_all, self.objects, keys)
        return holder

    def open(self, record: EnvironmentRecord, served: Served, start: int, end: int,
             lease_seconds: float) -> Iterator[bytes]:
        """Bytes `start..end` of the artifact, every object they come from leased until the
        iterator ends (or is closed). A part found missing before the first byte raises the
        NotFound of `collected` (rebuild queued); one found missing later (S3, a GC pass that
        was deleting it as the download leased it) ends the stream with an error and drops the
        recipe, so the client's retry finds the rebuild. UpstreamError when the store fails."""
        holder = self.lease_download(served.keys, lease_seconds)
        try:
            if served.recipe is not None and self.objects.local_path(served.key) is None:
                self._check_parts(served)
            if served.recipe is None:
                blocks = self.objects.open_range(served.key, start, end)
            else:
                blocks = open_recipe_range(self.objects, served.recipe, start, end)
        except FileNotFoundError:  # collected between the look-up and the open
            self.release(holder)
            self.collected(record, served)
        except OSError as exc:  # the object store failed: a clean 502, the client may retry
            self.release(holder)
            self._failed(served.key, exc)
        except BaseException:
            self.release(holder)
            raise
        return self._leased(blocks, holder, record, served)

    def _check_parts(self, served: Served) -> None:
        """FileNotFoundError unless every part is in the store once no removal of one is
        announced, asked after the download's lease is taken (see `venvd.objects.DeleteGuard`:
        a removal announced before the lease ends, removing the part or not, before the parts
        are looked at; one announced after it sees the lease and keeps the part). So no part
        can vanish once streaming starts. Only for stores that are not a directory: there every
        part is opened before the first byte, which is as good."""
        keys = set(served.keys)
        deadline = time.monotonic() + _ANNOUNCED_WAIT
        while any(k.startswith(DELETING_PREFIX) and k[len(DELETING_PREFIX):] in keys
                  for k in self._store.leased_objects()):
            if time.monotonic() > deadline:  # a GC that died while removing: its lease expires
                raise FileNotFoundError(f"a part of {served.key} is being collected")
            time.sleep(0.02)  # one DELETE request of the GC pass that announced it
        if self._missing(served.keys[1:]):
            raise FileNotFoundError(f"a part of {served.key} is gone")

    def _missing(self, keys: list[str]) -> list[str]:
        """The keys not in the object store, asked in parallel (on S3 a HEAD each: a recipe of a
        few hundred fragments costs a few round trips, not a few hundred)."""
        if not keys:
            return []
        with ThreadPoolExecutor(max_workers=min(16, len(keys)),
                                thread_name_prefix="venvd-check") as pool:
            found = list(pool.map(self.objects.stat, keys))
        return [key for key, info in zip(keys, found, strict=True) if info is None]

    def _leased(self, blocks: Iterator[bytes], holder: str, record: EnvironmentRecord,
                served: Served) -> Iterator[bytes]:
        def vanished() -> None:
            _log.warning("environment %s: a part of its artifact vanished while it was streamed; "
                         "dropping its recipe so it is rebuilt", record.id)
            self._forget(served)

        return Leased(blocks, lambda: self.release(holder), vanished)

    def presigned(self, record: EnvironmentRecord, served: Served, expires: float) -> str | None:
        """A presigned URL of the artifact as one object, or None when the store cannot presign
        (a directory). A virtual artifact is written once as one object first (see the module
        docstring); the object is leased until the URL expires."""
        key = served.key if served.recipe is None else artifact_key(record.id)
        url = self.objects.presigned_url(key, expires)
        if url is None:
            return None
        holder = self.lease_download([key, *served.keys], expires)
        try:
            if served.recipe is not None and self.objects.stat(key) is None:
                with self._cache_temp(record.id) as tmp:
                    self._write(record, served, tmp)
                    self.objects.put_file(key, tmp)
        except FileNotFoundError:
            self.release(holder)
            self.collected(record, served)
        except OSError as exc:
            self.release(holder)
            self._failed(key, exc)
        return url  # the lease expires with the URL

    @contextlib.contextmanager
    def _cache_temp(self, env_id: str) -> Iterator[Path]:
        from venvd.builder._cache import temp_sibling

        with temp_sibling(self._cache.artifact_path(env_id)) as tmp:
            yield tmp

    def _write(self, record: EnvironmentRecord, served: Served, dest: Path) -> None:
        """Write the whole artifact to `dest` (leasing its parts meanwhile)."""
        blocks = self.open(record, served, 0, served.size - 1, 600.0 + served.size / 1e6)
        with dest.open("wb") as out:
            for block in blocks:
                out.write(block)
        if dest.stat().st_size != served.size:
            raise OSError(f"the artifact of environment {record.id} came out truncated")

    def local_path(self, record: EnvironmentRecord) -> Path:
        """A local file holding the artifact (for the in-process client): the object itself on a
        filesystem store, else a copy in the local cache, written from the parts once."""
        from venvd.builder._cache import publish_once

        served = self.get(record)
        if served.recipe is None:
            local = self.objects.local_path(served.key)
            if local is not None:
                self.objects.touch(served.key)
                return local
        path = self._cache.artifact_path(record.id)
        if path.exists() and path.stat().st_size == served.size:
            self._cache.touch(path)
            return path
        path.unlink(missing_ok=True)
        if served.recipe is None:
            self.objects.get_file(served.key, path)
            return path
        with self._cache_temp(record.id) as tmp:
            self._write(record, served, tmp)
            publish_once(tmp, path)
        return path

