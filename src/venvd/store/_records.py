"""The values the store hands out, and their conversion from and to rows.

All are frozen dataclasses holding `venvd.dist` values and timezone-aware UTC datetimes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from packaging.tags import Tag, parse_tag
from packaging.utils import NormalizedName
from packaging.version import Version

from venvd.dist import CoreMetadata, DistFile
from venvd.store._models import EnvironmentRow, MetadataRow
from venvd.store._types import require_aware
from venvd.store.versionkey import version_sort_key

__all__ = [
    "CachedPage",
    "Closure",
    "EnvironmentRecord",
    "EnvironmentStatus",
    "StoredResolution",
    "file_from_row",
    "file_rows",
    "metadata_from_row",
]

EnvironmentStatus = Literal["queued", "building", "ready", "failed"]


@dataclasses.dataclass(frozen=True)
class CachedPage:
    """A project page as last fetched: its files in the index's order, and revalidation data."""

    name: NormalizedName
    index_url: str
    files: list[DistFile]
    etag: str | None
    fetched_at: datetime


@dataclasses.dataclass(frozen=True)
class Closure:
    """What the store knows about the projects reachable from some roots through Requires-Dist.

    `names` holds every reachable canonical name (whether or not a page is stored for it);
    `pages` the stored pages among them; `metadata` every stored metadata of those projects, by
    `DistFile.cache_key`.
    """

    names: frozenset[str]
    pages: dict[str, CachedPage]
    metadata: dict[str, CoreMetadata]


@dataclasses.dataclass(frozen=True)
class StoredResolution:
    key: str
    request: dict[str, Any]
    lock: dict[str, Any]
    created_at: datetime
    expires_at: datetime | None  # None: permanent


@dataclasses.dataclass(frozen=True)
class EnvironmentRecord:
    """An environment build: its identity, state, and (when ready) its artifact."""

    id: str
    lock_id: str
    target_key: str
    status: EnvironmentStatus
    roots: list[str]
    lock: Any | None
    request: Any | None
    artifact_path: str | None
    sha256: str | None
    size: int | None
    manifest: Any | None
    error: Any | None
    progress: Any | None
    created_at: datetime
    updated_at: datetime
    # Who queued or runs the build (see `venvd.service._owner`); None when nobody is recorded.
    owner_host: str | None = None
    owner_pid: int | None = None
    owner_start: str | None = None
    owner_token: str | None = None
    # Builds started since the last verdict that was not a bug; when its job was last published.
    attempts: int = 0
    published_at: datetime | None = None
    last_used_at: datetime | None = None  # when last served (throttled; migration 0004_impact)

    @classmethod
    def from_row(cls, row: EnvironmentRow) -> EnvironmentRecord:
        return cls(
            id=row.id, lock_id=row.lock_id, target_key=row.target_key,
            status=row.status,  # type: ignore[arg-type]  # the CHECK constraint guarantees it
            roots=list(row.roots), lock=row.lock, request=row.request,
            artifact_path=row.artifact_path, sha256=row.sha256,
            size=row.size, manifest=row.manifest, error=row.error, progress=row.progress,
            created_at=row.created_at, updated_at=row.updated_at,
            owner_host=row.owner_host, owner_pid=row.owner_pid, owner_start=row.owner_start,
            owner_token=row.owner_token, attempts=row.attempts or 0,
            published_at=row.published_at, last_used_at=row.last_used_at,
        )


def file_rows(project_id: int, files: Sequence[DistFile]) -> list[dict[str, Any]]:
    """Column values of the `files` rows of a page, `position` numbering them in order.

    What the files of a page repeat is converted once: a version's text and sort key (by the
    Version object: a page's wheels of one release share it, and 1.0 and 1.0.0 are equal but
    spelled differently, so equality would not do) and the tag list (one list object per tag
    set, which lets `_insert_many` encode it once). This was most of the CPU of storing a page.
    """
    versions: dict[int, tuple[str, str]] = {}
    tag_lists: dict[frozenset[Tag], list[str]] = {}
    rows = []
    for position, f in enumerate(files):
        version = versions.get(id(f.version))
        if version is None:
            version = versions[id(f.version)] = (str(f.version), version_sort_key(f.version))
        tags = tag_lists.get(f.tags)
        if tags is None:
            tags = tag_lists[f.tags] = sorted(str(t) for t in f.tags)
        rows.append({
            "project_id": project_id,
            "position": position,
            "filename": f.filename,
            "url": f.url,
            "sha256": f.sha256,
            "size": f.size,
            "requires_python": f.requires_python,
            "yanked": f.yanked,
            "upload_time": require_aware(f.upload_time),
            "metadata_sha256": f.metadata_sha256,
            "version": version[0],
            "version_key": version[1],
            "kind": f.kind,
            "tags": tags,
            "index_url": f.index_url,
        })
    return rows


@lru_cache(maxsize=4096)
def _tag_set(texts: tuple[str, ...]) -> frozenset[Tag]:
    """The tags a row's tag strings name: the same few sets recur across thousands of rows."""
    tags: set[Tag] = set()
    for text in texts:
        tags.update(parse_tag(text))
    return frozenset(tags)


@lru_cache(maxsize=8192)
def _version(text: str) -> Version:
    """Versions are immutable: a page's rows share one per version string."""
    return Version(text)


def file_from_row(project: str, row: Any) -> DistFile:
    """The DistFile of a `files` row (a `FileRow` or a result row with its columns)."""
    return DistFile(
        project=NormalizedName(project),
        filename=row.filename,
        url=row.url,
        version=_version(row.version),
        kind="wheel" if row.kind == "wheel" else "sdist",
        tags=_tag_set(tuple(row.tags)),
        sha256=row.sha256,
        size=row.size,
        requires_python=row.requires_python,
        yanked=row.yanked,
        upload_time=row.upload_time,
        metadata_sha256=row.metadata_sha256,
        index_url=row.index_url,
    )


def metadata_from_row(row: MetadataRow) -> CoreMetadata:
    return CoreMetadata(
        name=NormalizedName(row.name),
        version=Version(row.version),
        requires_dist=tuple(row.requires_dist),
        requires_python=row.requires_python,
        provides_extra=tuple(row.provides_extra),
    )
