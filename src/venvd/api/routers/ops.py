"""Operations: GET /metrics (Prometheus text) and GET /v1/ready (readiness, check by check)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from venvd.api import _metrics
from venvd.api._auth import AUTH_RESPONSES, requires
from venvd.api.dependencies import get_service
from venvd.api.schemas import ERROR_RESPONSES
from venvd.service import Service

router = APIRouter(tags=["operations"])
log = logging.getLogger("venvd.ready")

# Seconds one readiness check may take before it counts as failed.
CHECK_TIMEOUT_SECONDS = 5.0


@router.get(
    "/metrics",
    summary="Prometheus metrics of this API process and the store's fleet-wide gauges",
    response_class=Response,
    dependencies=[Depends(requires("read"))],
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
               **AUTH_RESPONSES, 500: ERROR_RESPONSES[500]},
)
def metrics(service: Annotated[Service, Depends(get_service)]) -> Response:
    """Needs the `read` scope when the server enforces tokens (Prometheus sends one with
    `authorization: {credentials_file: ...}` in its scrape config)."""
    body, content_type = _metrics.render(service.store)
    return Response(body, media_type=content_type)


@router.get(
    "/v1/ready",
    summary="Readiness: the store, and the queue and object store when configured",
    responses={200: {"description": "Every check passed"},
               503: {"description": "Some check failed: `failed` names them"},
               500: ERROR_RESPONSES[500]},
)
async def ready(service: Annotated[Service, Depends(get_service)]) -> JSONResponse:
    """`{"status": "ready"|"unready", "checks": {name: "ok"|"failed: <reason>"}, "failed":
    [names]}`; 503 when any check failed or took longer than 5 s. Open without a token, for
    load balancers."""
    names = [name for name, _ in service.ready_checks]
    results = await asyncio.gather(*(_run(name, check) for name, check in service.ready_checks))
    checks: dict[str, Any] = dict(zip(names, results, strict=True))
    failed = [name for name, result in checks.items() if result != "ok"]
    return JSONResponse(
        {"status": "unready" if failed else "ready", "checks": checks, "failed": failed},
        status_code=503 if failed else 200,
    )


async def _run(name: str, check: Any) -> str:
    try:
        await asyncio.wait_for(asyncio.to_thread(check), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        log.warning("readiness check %s took more than %s s", name, CHECK_TIMEOUT_SECONDS)
        return f"failed: no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    except Exception as exc:
        # The reason's text may carry a URL or a host: only its type goes to the client.
        log.warning("readiness check %s failed", name, exc_info=True)
        return f"failed: {type(exc).__name__}"
    return "ok"
