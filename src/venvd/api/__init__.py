"""HTTP API (FastAPI). `create_app(service)` builds the app; OpenAPI at /docs."""

from __future__ import annotations

from venvd.api.app import create_app

__all__ = ["create_app"]
