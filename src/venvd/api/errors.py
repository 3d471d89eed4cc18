"""The one mapping from errors to HTTP: every answer that is not a success is venvd's error body
``{"error": {"code", "message", "details"}}``, whatever raised it (a VenvdError, a request that
does not validate, Starlette's own 404/405/400, or a fault of venvd, which is logged with an id)."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from venvd.api._logging import current_request_id
from venvd.errors import (
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
    VenvdError,
)
from venvd.service._bodies import invalid_request

__all__ = ["error_response", "install_error_handlers"]

log = logging.getLogger("venvd.api")


def error_response(exc: VenvdError, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error, with the request's id in ``details.request_id`` (the one the
    ``X-Request-Id`` header and the log lines carry) and, for a 401, ``WWW-Authenticate``."""
    doc = exc.to_json()
    request_id = current_request_id()
    if request_id is not None:
        doc["error"]["details"]["request_id"] = request_id
    if isinstance(exc, Unauthorized):
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="venvd"'}
    return JSONResponse(doc, status_code=exc.http_status, headers=headers)


def _http_error(exc: StarletteHTTPException) -> VenvdError:
    """Starlette's own errors (no route, wrong method, a body it could not read) as venvd's."""
    detail = exc.detail if isinstance(exc.detail, str) else "error"
    if exc.status_code == 404:
        return NotFound("no such route (see /docs for the API)")
    if exc.status_code == 405:
        return MethodNotAllowed("this method is not allowed on this route (see /docs)")
    if exc.status_code == 400:
        # FastAPI's "There was an error parsing the body": not UTF-8, or nested too deep for
        # the JSON parser.
        unreadable = InvalidRequest(
            "the body could not be read as JSON (not UTF-8, or nested too deep)",
            problems=[{"field": "body", "problem": detail}])
        unreadable.http_status = 400
        return unreadable
    other = VenvdError(detail)
    other.code = "http_error"
    other.http_status = exc.status_code
    return other


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VenvdError)
    async def venvd_error(request: Request, exc: VenvdError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(_http_error(exc), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(invalid_request(exc.errors()))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The exception's text may hold anything (a URL with credentials, a path): it goes to the
        # log only (with its traceback), found there by the id the client gets: the request's id.
        # This handler runs in Starlette's outermost middleware, outside the request context:
        # the id is found in the request's state and the header is set here.
        error_id = (current_request_id() or getattr(request.state, "request_id", None)
                    or uuid.uuid4().hex)
        log.exception("internal error %s serving %s %s", error_id, request.method,
                      request.url.path, extra={"request_id": error_id})
        error = InternalError(f"internal error (id {error_id}; the server log has it)",
                              id=error_id, request_id=error_id)
        return error_response(error, headers={"X-Request-Id": error_id})
