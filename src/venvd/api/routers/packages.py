"""Packages that environments hold: search, and the environments holding a version range."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from venvd.api._impact_schemas import PackageEnvironments, PackageList
from venvd.api.dependencies import get_service
from venvd.api.schemas import ERROR_RESPONSES
from venvd.service import Service

router = APIRouter(prefix="/v1/packages", tags=["impact"],
                   responses={s: ERROR_RESPONSES[s] for s in (422, 500)})

_MAX_PAGE = 500


@router.get("", summary="Search the packages environments hold", response_model=PackageList)
def packages(service: Annotated[Service, Depends(get_service)],
             q: Annotated[str, Query(max_length=200, description="Substring of the name")] = "",
             limit: Annotated[int, Query(ge=1, le=_MAX_PAGE)] = 50) -> dict[str, Any]:
    """Packages held by at least one environment whose canonical name contains `q`, by name:
    the versions held (newest first) and how many environments hold it."""
    return service.impact.packages(q, limit)


@router.get("/{name}/environments", summary="Environments holding a version of a package",
            response_model=PackageEnvironments)
def environments(
    name: str,
    service: Annotated[Service, Depends(get_service)],
    specifier: Annotated[str, Query(max_length=200, description="A PEP 440 specifier",
                                    examples=["<2.0.7"])] = "",
    limit: Annotated[int, Query(ge=1, le=_MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """The environments holding `name` at a version `specifier` admits (all versions when
    empty), newest first, with the version each holds. Pre-releases held count when in range.
    422 naming `package` or `specifier` when one does not parse."""
    return service.impact.environments_with(name, specifier, limit=limit, offset=offset)
