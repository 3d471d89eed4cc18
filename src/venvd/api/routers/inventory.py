"""The environments as an inventory: the list with filters, why a package is in one, its graph.

`GET /v1/environments` here and `POST /v1/environments` (routers/environments.py) share a path,
not a module: this one reads the store only and never starts the build machinery.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from venvd.api._impact_schemas import EnvironmentPage, GraphAnswer, WhyAnswer
from venvd.api.dependencies import get_service
from venvd.api.schemas import ERROR_RESPONSES
from venvd.service import Service

router = APIRouter(prefix="/v1/environments", tags=["impact"],
                   responses={s: ERROR_RESPONSES[s] for s in (404, 422, 500)})



@router.get("", summary="List environments, newest first, with filters",
            response_model=EnvironmentPage)
def list_environments(
    service: Annotated[Service, Depends(get_service)],
    package: Annotated[str | None, Query(max_length=200,
                                         description="Only those holding this package")] = None,
    specifier: Annotated[str | None, Query(max_length=200, description="…at a version in this "
                                           "PEP 440 specifier (needs `package`)")] = None,
    target: Annotated[str | None, Query(max_length=200,
                                        description="A target key or its prefix")] = None,
    status: Annotated[str | None, Query(max_length=200,
                                        description="queued, building, ready or failed")] = None,
    q: Annotated[str | None, Query(max_length=200,
                                   description="A substring of the id or of a root name")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """A page of environments (`total` counts all matches): id, roots, target (key and label),
    status, size, created, last_used (when last served, to about a minute)."""
    return service.impact.list_environments(package=package, specifier=specifier, target=target,
                                            status=status, query=q, limit=limit, offset=offset)


@router.get("/{env_id}/why/{name}", summary="Why an environment holds a package",
            response_model=WhyAnswer)
def why(env_id: str, name: str, service: Annotated[Service, Depends(get_service)]) -> dict[str, Any]:
    """The shortest dependency chains from each of the environment's roots that reaches `name`,
    over the Requires-Dist of its pinned versions. 404 for an unknown environment, or one that
    does not hold `name` (``details.package``)."""
    return service.impact.why(env_id, name)


@router.get("/{env_id}/graph", summary="The dependency graph among an environment's packages",
            response_model=GraphAnswer)
def graph(env_id: str, service: Annotated[Service, Depends(get_service)]) -> dict[str, Any]:
    """Nodes (name, version, is_root) and edges (parent, child) between the packages the
    environment holds."""
    return service.impact.graph(env_id)
