"""The SBOM of an environment: CycloneDX 1.6 JSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from venvd.api.dependencies import get_service
from venvd.api.schemas import ERROR_RESPONSES
from venvd.service import Service

router = APIRouter(prefix="/v1/environments", tags=["environments"],
                   responses={s: ERROR_RESPONSES[s] for s in (404, 409, 422, 500, 502)})


@router.get("/{env_id}/sbom", summary="A CycloneDX 1.6 SBOM of a built environment",
            response_class=Response,
            responses={200: {"description": "CycloneDX 1.6 JSON",
                             "content": {"application/vnd.cyclonedx+json": {"schema": {"type": "object"}}}},
                       409: {"description": "The environment is not built (yet, or it failed): "
                                            "`not_ready`, with details.status"}})
def sbom(env_id: str, service: Annotated[Service, Depends(get_service)]) -> Response:
    """Components with purl, version, the sha256 of the file installed and the licence its
    metadata declares; the dependency graph from the lock; the target as metadata properties.
    The same environment always gives the same document (serial number and timestamp derive from
    it). 409 `not_ready` while the environment is queued or building, or when its build failed."""
    from venvd.outputs import SBOM_MEDIA_TYPE, environment_sbom

    return Response(environment_sbom(service, env_id), media_type=SBOM_MEDIA_TYPE)
