"""Build the FastAPI application around one Service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from venvd import __version__
from venvd.api.errors import install_error_handlers
from venvd.api.routers import health, resolve
from venvd.service import Service, Settings

__all__ = ["create_app"]


def create_app(service: Service | None = None, settings: Settings | None = None) -> FastAPI:
    """An app serving `service`, or one it opens from `settings` at start-up and closes at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = service is None
        app.state.service = service if service is not None else Service.open(settings)
        try:
            yield
        finally:
            if owned:
                app.state.service.close()

    app = FastAPI(
        title="venvd",
        version=__version__,
        lifespan=lifespan,
        description="Resolve Python requirements for any target platform, build the "
        "environment, ship it ready to use.",
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(resolve.router)
    try:
        from venvd.api.routers import environments
    except ImportError:  # the environment builder is optional until it lands
        pass
    else:
        app.include_router(environments.router)
    return app
