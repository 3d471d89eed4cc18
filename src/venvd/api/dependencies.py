"""Request-scoped dependencies. Tests override `get_service` rather than patching; the token
checks are `venvd.api._auth.requires(scope)`."""

from __future__ import annotations

from fastapi import Request

from venvd.service import Service

__all__ = ["get_service"]


async def get_service(request: Request) -> Service:
    """The app's Service. `async` although it does not wait: FastAPI runs a plain `def`
    dependency in its thread pool, one thread hop per request for an attribute read."""
    service: Service = request.app.state.service
    return service
