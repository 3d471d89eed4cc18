"""The Service's one builder cache, shared through the object store when one is configured.

Every part of a Service that downloads or builds (environment builds, direct references' metadata,
sdist build requirements, `/simple/` files) uses the same `BuildCache`. With an object store other
than the cache directory (S3, a shared mount) it is the cache's `shared` store, opened at the first
miss or write: building the cache, as every Service does (a `venvd resolve` too), opens nothing and
imports no boto3.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from venvd.builder import BuildCache
from venvd.service.settings import Settings

if TYPE_CHECKING:
    from venvd.objects import ObjectStore  # opened by the Service, when first needed

__all__ = ["service_cache"]


def service_cache(settings: Settings, objects: Callable[[], ObjectStore]) -> BuildCache:
    """The cache under ``data_dir/cache``; `objects` gives the Service's object store (opened
    once, at its first call)."""
    root = settings.data_dir / "cache"
    shared = _SharedObjects(objects) if _object_store_elsewhere(settings, root) else None
    return BuildCache(root, shared)


class _SharedObjects:
    """The Service's object store as its cache's shared store (`BuildCache.SharedStore`), opened at
    the first call: building the cache, as every Service does, opens nothing."""

    def __init__(self, objects: Callable[[], ObjectStore]) -> None:
        self._objects = objects

    def get_file(self, key: str, dest: Path) -> None:
        self._objects().get_file(key, dest)

    def put_file(self, key: str, path: Path) -> None:
        self._objects().put_file(key, path)

    def touch(self, key: str) -> None:
        self._objects().touch(key)


def _object_store_elsewhere(settings: Settings, cache_root: Path) -> bool:
    """Whether the `object_store` setting names a store other than the cache directory itself
    (the default): S3, or a filesystem path elsewhere (a shared mount). Decided without opening
    it; an invalid setting counts as elsewhere (opening it raises, naming the problem)."""
    url = settings.object_store
    if not url:
        return False
    if "://" in url and not url.startswith("file://"):
        return True
    path = Path(url.removeprefix("file://"))
    return path.resolve() != cache_root.resolve()
