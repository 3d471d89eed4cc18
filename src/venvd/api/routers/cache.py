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
    from venvd.objects import parse_age, parse_size
    from venvd.service._gc import run_gc

    settings = service.settings
    values: dict[str, Any] = {}
    for field, parse, given in (("max_size", parse_size, body.max_size or settings.cache_max_size),
                                ("older_than", parse_age, body.older_than),
                                ("min_age", parse_age, body.min_age)):
        try:
            values[field] = parse(given) if given else None
        except ValueError as exc:
            raise InvalidRequest(f"{field}: {exc}", field=field) from None
    if values["max_size"] is None and values["older_than"] is None:
        raise InvalidRequest("give max_size and/or older_than (the server has no cache_max_size)",
                             field="max_size")
    envs = service.environments
    reports = run_gc(service.store, envs.artifacts.objects, envs.cache.root,
                     max_size=values["max_size"], older_than=values["older_than"],
                     min_age=settings.gc_min_age if values["min_age"] is None else values["min_age"],
                     dry_run=body.dry_run)
    return {"reports": [report.to_json() for report in reports]}
