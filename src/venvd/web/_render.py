"""Templates, and the route class that turns venvd's errors into HTML pages.

Templates live in `venvd/web/templates` (shipped in the wheel), autoescaped. `page()` renders one
with what every page needs (the user, the path, the CSRF value). `HtmlRoute` is the web router's
route class: the pages raise venvd's errors as the service does, and it answers them as an error
page with the error's own status (404 for an unknown id, 422 naming a bad specifier), or with a
redirect to the login form for a missing token, never as JSON and never with a traceback.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from venvd.errors import InternalError, NotFound, Unauthorized, VenvdError

__all__ = ["HtmlRoute", "error_page", "page"]

_log = logging.getLogger("venvd.web")


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("venvd.web", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the page's test, not silently
    )
    env.filters["size"] = human_size
    env.filters["when"] = when
    env.filters["seconds"] = lambda s: "" if s is None else f"{float(s):.2f} s"
    return env


def human_size(value: int | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def when(value: str | datetime | None) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM UTC' (the store's are UTC)."""
    if value is None:
        return "never"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The rendered `template` (context plus `path`, `user`, `csrf`), as an HTML response."""
    user = getattr(request.state, "web_user", None)
    html = _environment().get_template(template).render(
        path=request.url.path, user=user, csrf=user.csrf if user is not None else "", **context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def error_page(request: Request, error: VenvdError) -> HTMLResponse:
    title = "Not found" if isinstance(error, NotFound) else {
        400: "Bad request", 403: "Forbidden", 409: "Conflict", 413: "Too large",
        422: "Invalid input"}.get(error.http_status, "Error")
    return page(request, "error.html", status=error.http_status, title=title, error=error)


class HtmlRoute(APIRoute):
    """A page route: venvd errors become error pages (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Unauthorized:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
            except VenvdError as exc:
                return error_page(request, exc)
            except RequestValidationError as exc:
                from venvd.service._bodies import invalid_request

                return error_page(request, invalid_request(exc.errors()))
            except StarletteHTTPException:
                raise
            except Exception:
                from venvd.api._logging import current_request_id

                error_id = current_request_id() or uuid.uuid4().hex
                _log.exception("internal error %s serving %s", error_id, request.url.path)
                return error_page(request, InternalError(
                    f"internal error (id {error_id}; the server log has it)", id=error_id))

        return route
