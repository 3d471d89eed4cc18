"""The one mapping from errors to HTTP: VenvdError → its status and JSON body; never a bare 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from venvd.errors import VenvdError

__all__ = ["install_error_handlers"]

log = logging.getLogger("venvd.api")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VenvdError)
    async def venvd_error(request: Request, exc: VenvdError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            problems.append({"field": where, "problem": err.get("msg", "invalid")})
        first = problems[0] if problems else {"field": "body", "problem": "invalid"}
        body = {
            "error": {
                "code": "invalid_request",
                "message": f"invalid request: {first['field']}: {first['problem']}",
                "details": {"problems": problems},
            }
        }
        return JSONResponse(body, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error serving %s %s", request.method, request.url.path)
        body = {
            "error": {
                "code": "internal_error",
                "message": f"internal error: {type(exc).__name__}: {exc}",
                "details": {},
            }
        }
        return JSONResponse(body, status_code=500)
