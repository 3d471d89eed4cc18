"""Object stores: where wheels, built wheels, fragments and artifacts are shared, and their GC.

    store = open_object_store(settings)      # FileObjectStore(data_dir/cache) or S3ObjectStore
    store.put_file(key, path); store.open_range(key, start, end); store.presigned_url(key, 3600)
    open_recipe_range(store, recipe, start, end)   # a virtual object: inline bytes + stored objects
    collect(store, max_size=parse_size("20GB"), leased=db.leased_objects)

Keys are the builder's cache paths (content-addressed: ``wheels-v1/<sha[:2]>/<sha>/<file>``,
``built-v1/<sdist sha>/<build key>/...``, ``fragments-v1/<wheel sha>/<layout>.tar.zst``,
``environments-v1/<env key>.json``: an artifact's recipe, and ``environments-v1/<env key>.tar.zst``
when an artifact is materialized as one object), so the filesystem default is today's cache layout itself.
The S3 implementation (boto3) is imported only when configured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from venvd.objects._base import PREFIXES, TEMP_PREFIX, ObjectInfo, ObjectStore, is_no_space
from venvd.objects._fs import FileObjectStore
from venvd.objects._gc import DELETING_PREFIX, DeleteGuard, GcReport, collect, parse_age, parse_size
from venvd.objects._virtual import RECIPE_FORMAT, Part, Recipe, open_recipe_range

__all__ = [
    "DELETING_PREFIX",
    "PREFIXES",
    "RECIPE_FORMAT",
    "TEMP_PREFIX",
    "DeleteGuard",
    "FileObjectStore",
    "GcReport",
    "ObjectInfo",
    "ObjectStore",
    "Part",
    "Recipe",
    "artifact_key",
    "collect",
    "is_no_space",
    "open_object_store",
    "open_recipe_range",
    "parse_age",
    "parse_size",
    "recipe_key",
]


def artifact_key(env_key: str) -> str:
    """The object key of an environment's archive."""
    return f"environments-v1/{env_key}.tar.zst"


def recipe_key(env_key: str) -> str:
    """The object key of an environment's recipe: the parts its archive is the concatenation of
    (`Recipe`), with its sha256, size and manifest."""
    return f"environments-v1/{env_key}.json"


def open_object_store(url: str | None, cache_dir: Path, *, endpoint_url: str | None = None,
                      **options: Any) -> ObjectStore:
    """The store named by the `object_store` setting: empty → the filesystem under `cache_dir`
    (today's layout); ``s3://bucket/prefix`` → S3 (boto3, `endpoint_url` for S3-API servers);
    ``file:///path`` or a plain path → the filesystem there (a shared mount). ValueError else."""
    if not url:
        return FileObjectStore(cache_dir)
    if url.startswith("s3://"):
        from venvd.objects._s3 import S3ObjectStore

        return S3ObjectStore(url, endpoint_url=endpoint_url, **options)
    if url.startswith("file://"):
        return FileObjectStore(Path(url[len("file://"):]))
    if "://" in url:
        raise ValueError(f"unsupported object store {url!r} (use s3://bucket/prefix or a path)")
    return FileObjectStore(Path(url))
