"""Request-scoped dependencies. Tests override `get_service` rather than patching."""

from __future__ import annotations

from fastapi import Request

from venvd.service import Service

__all__ = ["get_service"]


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service
