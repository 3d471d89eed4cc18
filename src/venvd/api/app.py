"""Build the FastAPI application around one Service."""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from venvd import __version__
from venvd.api import _metrics
from venvd.api._auth import AUTH_RESPONSES, TokenCheck, auth_required, requires
from venvd.api._logging import RequestContext, current_request_id
from venvd.api._progress import close_progress_hub
from venvd.api.errors import install_error_handlers
from venvd.api.routers import (
    advisories,
    cache,
    environments,
    health,
    inventory,
    ops,
    packages,
    resolve,
    sbom,
    simple,
    tokens,
    uploads,
)
from venvd.errors import InvalidRequest, InvalidUpload, RequestTooLarge, VenvdError
from venvd.service import Service, Settings
from venvd.store import Tokens

__all__ = ["BodyLimit", "create_app"]


def create_app(service: Service | None = None, settings: Settings | None = None, *,
               host: str | None = None, freeze_gc: bool = False) -> FastAPI:
    """An app serving `service`, or one it opens from `settings` at start-up and closes at shutdown.

    `host` is the address the server binds (`venvd serve` passes it): with the `auth` setting
    "auto", tokens are enforced when it is not loopback (see `_auth`). `freeze_gc` (for a process
    that only serves this app): once started, everything allocated so far (modules, the app, the
    service) is moved out of the cyclic collector's reach, so its full collections no longer walk
    some 100,000 long-lived objects: they cost tens of milliseconds each, added to whichever
    requests they interrupt (the p99 of bench/fleet_bench.py)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = service is None
        app.state.service = running = service if service is not None else Service.open(settings)
        app.state.token_check = TokenCheck(
            Tokens(running.store), required=auth_required(running.settings.auth, host))
        if freeze_gc:
            gc.collect()
            gc.freeze()
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

    def current_settings() -> Settings:
        running: Service | None = getattr(app.state, "service", None)
        return running.settings if running is not None else (settings or Settings())

    def max_body_bytes() -> int:
        return current_settings().max_body_bytes

    def upload_limit(scope: Scope) -> int | None:
        """Bytes an upload to a private index (POST /<index>/) may send, else None."""
        chosen = current_settings()
        path: str = scope.get("path", "")
        # "/team" too: it is redirected to "/team/" without its body being read.
        if scope["method"] == "POST" and path.strip("/") in chosen.private_indexes:
            return chosen.max_upload_bytes + _FORM_OVERHEAD
        return None

    _metrics.enable()
    app.add_middleware(BodyLimit, limit=max_body_bytes, streamed=upload_limit)
    # Outermost (added last): the body limit's own answers get a request id and a log line too.
    app.add_middleware(RequestContext, observe=_metrics.observe_request)
    # Open: liveness, readiness (load balancers), the docs. /metrics declares its own scope.
    app.include_router(health.router)
    app.include_router(ops.router)
    read = [Depends(requires("read"))]
    app.include_router(resolve.router, dependencies=read, responses=AUTH_RESPONSES)
    # POST /v1/environments declares "build" on top of this.
    app.include_router(environments.router, dependencies=read, responses=AUTH_RESPONSES)
    app.include_router(sbom.router, dependencies=read, responses=AUTH_RESPONSES)
    app.include_router(inventory.router, dependencies=read, responses=AUTH_RESPONSES)
    app.include_router(packages.router, dependencies=read, responses=AUTH_RESPONSES)
    app.include_router(simple.router, dependencies=read, responses=AUTH_RESPONSES)
    app.include_router(tokens.router)  # admin
    app.include_router(cache.router)  # admin: cache GC
    app.include_router(advisories.router)  # POST admin, GET read (declared per route)
    from venvd.web import install as install_web  # here: the client never imports the pages

    install_web(app)  # the web UI at /, its own auth (a token cookie; see venvd.web._session)
    # Last: /{index}/... must not shadow the app's own first path segments (the settings refuse
    # index names that are one of them).
    app.include_router(uploads.router)  # build (uploads), read (files)
    return app


# An upload's form fields and multipart boundaries besides the file (twine sends a few KiB).
_FORM_OVERHEAD = 1024 * 1024


class BodyLimit:
    """ASGI middleware: a request body larger than `limit()` bytes is answered 413 before the app
    (and its JSON parser) sees any of it. A declared Content-Length is checked before reading; a
    chunked body is counted while it is read, and buffered (at most `limit()` bytes) for the app.

    A request for which `streamed(scope)` gives a bound (uploads: files far larger than any JSON
    body) is not buffered: a declared length past it is answered 400 at once, and the body is
    counted as the app reads it, the read past the bound raising InvalidUpload (400)."""

    def __init__(self, app: ASGIApp, limit: Callable[[], int],
                 streamed: Callable[[Scope], int | None] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.streamed = streamed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        length: int | None = None
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _answer(send, InvalidRequest("Content-Length is not a number"), 400)
                return
        bound = self.streamed(scope) if self.streamed is not None else None
        if bound is not None:
            await self._streamed(scope, receive, send, bound, length)
            return
        limit = self.limit()
        if length is not None and length > limit:
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

    async def _streamed(self, scope: Scope, receive: Receive, send: Send, bound: int,
                        length: int | None) -> None:
        if length is not None and length > bound:
            await _answer(send, _upload_too_large(bound))
            return
        size = 0

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > bound:
                    raise _upload_too_large(bound)
            return message

        await self.app(scope, counted, send)


def _upload_too_large(bound: int) -> InvalidUpload:
    return InvalidUpload(f"the upload is larger than the {bound - _FORM_OVERHEAD} bytes allowed "
                         "(the max_upload_bytes setting)", problem="size",
                         limit="max_upload_bytes", max=bound - _FORM_OVERHEAD)


def _too_large(limit: int, actual: int | None) -> RequestTooLarge:
    return RequestTooLarge(
        f"the request body is larger than the {limit} bytes allowed (the max_body_bytes setting)",
        limit="max_body_bytes", max=limit, actual=actual)


async def _answer(send: Send, error: VenvdError, status: int | None = None) -> None:
    doc = error.to_json()
    request_id = current_request_id()
    if request_id is not None:
        doc["error"]["details"]["request_id"] = request_id
    body = json.dumps(doc).encode()
    headers: list[Any] = [(b"content-type", b"application/json"),
                          (b"content-length", str(len(body)).encode()),
                          (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status or error.http_status,
                "headers": headers})
    await send({"type": "http.response.body", "body": body})
