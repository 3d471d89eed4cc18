"""GET /v1/health: liveness plus a cheap store round trip."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from venvd import __version__
from venvd.api.dependencies import get_service
from venvd.api.schemas import ERROR_RESPONSES
from venvd.service import Service

router = APIRouter(prefix="/v1", tags=["health"])


@router.get("/health", summary="Liveness and the store", responses={500: ERROR_RESPONSES[500]})
def health(service: Service = Depends(get_service)) -> dict[str, Any]:
    return {
        "status": "ok",
        "version": __version__,
        "database": service.store.dialect,
        "indexes": list(service.index_config.index_urls),  # without credentials
    }
