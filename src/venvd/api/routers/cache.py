"""POST /v1/gc: one cache GC pass over the shared object store, for holders of an `admin` token.

What `venvd gc` does on a node, over HTTP (`venvd gc --server URL` sends it): least recently used
objects first, under a size budget and/or an age; leased objects (running builds, in-flight
downloads on any node) and those used within `min_age` stay. Environment records stay: a collected
environment is rebuilt, identical, when asked for again.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from venvd.api._auth import AUTH_RESPONSES, requires
from venvd.api.dependencies import get_service
from venvd.api.schemas import ERROR_RESPONSES
from venvd.errors import InvalidRequest
from venvd.service import Service

router = APIRouter(prefix="/v1", tags=["operations"], dependencies=[Depends(requires("admin"))],
                   responses={**AUTH_RESPONSES, **{s: ERROR_RESPONSES[s] for s in (400, 413, 422, 500)}})


class GcBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_size: str | None = Field(None, max_length=32, examples=["20GB"],
                                 description="Remove least recently used objects until the cache "
                                 "holds at most this (20GB, 512MiB, bytes); default: the server's "
                                 "cache_max_size")
    older_than: str | None = Field(None, max_length=32, examples=["30d"],
                                   description="Remove objects not used for this long (30d, 12h, "
                                   "90m, seconds)")
    min_age: str | None = Field(None, max_length=32, description="Never remove objects used more "
                                "recently than this (default: the server's gc_min_age)")
    dry_run: bool = Field(False, description="Only report what would be removed")


@router.post("/gc", summary="Collect cached objects (admin)")
def gc(body: GcBody, service: Annotated[Service, Depends(get_service)]) -> dict[str, Any]:
    """`{"reports": [...]}`, one per store (the object store, then this node's local cache when
    that is another place): bytes before and after, objects removed (their keys), objects kept in
    use. 422 for a size or age that does not parse, or when neither a size (nor the server's
    cache_max_size) nor an age is given."""
    from venvd.service._gc import GcLimitError, gc_limits, run_gc

    try:
        limits = gc_limits(service.settings, body.max_size, body.older_than, body.min_age)
    except GcLimitError as exc:
        raise InvalidRequest(
            f"{exc.field}: {exc.reason}" if exc.reason else
            "give max_size and/or older_than (the server has no cache_max_size)",
            field=exc.field) from None
    envs = service.environments
    reports = run_gc(service.store, envs.artifacts.objects, envs.cache.root,
                     max_size=limits.max_size, older_than=limits.older_than,
                     min_age=limits.min_age, dry_run=body.dry_run)
    return {"reports": [report.to_json() for report in reports]}
