"""Security advisories (OSV): feed a server remotely (admin), and list the environments they
affect (read)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query

from venvd.api._auth import AUTH_RESPONSES, requires
from venvd.api._impact_schemas import AdvisoryImpactList, ImportResult
from venvd.api.dependencies import get_service
from venvd.api.schemas import ERROR_RESPONSES
from venvd.service import Service

router = APIRouter(prefix="/v1/advisories", tags=["impact"],
                   responses={**AUTH_RESPONSES, **{s: ERROR_RESPONSES[s] for s in (422, 500)}})

_EXAMPLE = {
    "id": "PYSEC-0000-1", "modified": "2026-01-02T00:00:00Z", "summary": "An example",
    "aliases": ["CVE-0000-1"],
    "affected": [{"package": {"ecosystem": "PyPI", "name": "urllib3"},
                  "ranges": [{"type": "ECOSYSTEM",
                              "events": [{"introduced": "0"}, {"fixed": "2.0.7"}]}]}],
}


@router.post("", summary="Import OSV advisories (admin)", response_model=ImportResult,
             dependencies=[Depends(requires("admin"))],
             responses={s: ERROR_RESPONSES[s] for s in (400, 413)})
def import_advisories(
    body: Annotated[dict[str, Any] | list[dict[str, Any]], Body(examples=[_EXAMPLE])],
    service: Annotated[Service, Depends(get_service)],
) -> dict[str, Any]:
    """One OSV document or a list of them (PyPI entries: ECOSYSTEM ranges and `versions` lists).
    All are checked first and stored in one transaction: a bad one is a 422 naming it (`body[3]`)
    and its field, and nothing is stored. An id already stored is replaced only by a newer
    `modified`; withdrawn advisories are skipped (and remove the stored one)."""
    documents = body if isinstance(body, list) else [body]
    sources = [f"body[{i}]" if isinstance(body, list) else "body" for i in range(len(documents))]
    return service.advisories.import_documents(list(zip(sources, documents, strict=True)))


@router.get("/impact", summary="Environments holding a version an advisory affects",
            response_model=AdvisoryImpactList, dependencies=[Depends(requires("read"))])
def impact(
    service: Annotated[Service, Depends(get_service)],
    package: Annotated[str | None, Query(max_length=200, description="Only this package")] = None,
    advisory: Annotated[str | None, Query(max_length=200,
                                          description="Only this advisory (id or alias)")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Per advisory, package and affected environment: the advisory's id, aliases and summary,
    the version held, `fixed` (the lowest fixed version above it; null when none is known) and
    the environment (id, roots, target, status, ...). Ordered by advisory, package, environment."""
    return service.advisories.impact(package=package, advisory=advisory, limit=limit,
                                     offset=offset)
