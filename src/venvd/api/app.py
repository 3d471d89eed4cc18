"""Build the FastAPI application around one Service."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from venvd import __version__
from venvd.api._progress import close_progress_hub
from venvd.api.errors import install_error_handlers
from venvd.api.routers import environments, health, resolve
from venvd.errors import InvalidRequest, RequestTooLarge, VenvdError
from venvd.service import Service, Settings

__all__ = ["BodyLimit", "create_app"]


def create_app(service: Service | None = None, settings: Settings | None = None) -> FastAPI:
    """An app serving `service`, or one it opens from `settings` at start-up and closes at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = service is None
        app.state.service = service if service is not None else Service.open(settings)
        try:
            yield
        finally:
            close_progress_hub(app)
            if owned:
                app.state.service.close()

    app = FastAPI(
        title="venvd",
        version=__version__,
        lifespan=lifespan,
        description="Resolve Python requirements for any target platform, build the "
        "environment, ship it ready to use. Every error is "
        '`{"error": {"code", "message", "details"}}`.',
    )
    install_error_handlers(app)

    def max_body_bytes() -> int:
        running: Service | None = getattr(app.state, "service", None)
        chosen = running.settings if running is not None else (settings or Settings())
        return chosen.max_body_bytes

    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.include_router(health.router)
    app.include_router(resolve.router)
    app.include_router(environments.router)
    return app


class BodyLimit:
    """ASGI middleware: a request body larger than `limit()` bytes is answered 413 before the app
    (and its JSON parser) sees any of it. A declared Content-Length is checked before reading; a
    chunked body is counted while it is read, and buffered (at most `limit()` bytes) for the app."""

    def __init__(self, app: ASGIApp, limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _answer(send, InvalidRequest("Content-Length is not a number"), 400)
                return
            if length > limit:
                await _answer(send, _too_large(limit, length))
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _answer(send, _too_large(limit, None))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _too_large(limit: int, actual: int | None) -> RequestTooLarge:
    return RequestTooLarge(
        f"the request body is larger than the {limit} bytes allowed (the max_body_bytes setting)",
        limit="max_body_bytes", max=limit, actual=actual)


async def _answer(send: Send, error: VenvdError, status: int | None = None) -> None:
    body = json.dumps(error.to_json()).encode()
    headers: list[Any] = [(b"content-type", b"application/json"),
                          (b"content-length", str(len(body)).encode()),
                          (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status or error.http_status,
                "headers": headers})
    await send({"type": "http.response.body", "body": body})
