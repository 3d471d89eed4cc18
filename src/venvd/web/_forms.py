"""The pages that post: the request form (a new environment) and the login form.

`POST /request` builds the same `EnvironmentBody` as `POST /v1/environments` and calls the same
service method (`create_from_json`), then redirects (303) to the environment's page, which follows
the build. A bad requirement or target answers the form again with status 422 and the error next
to what was typed.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from venvd.api._auth import TokenCheck
from venvd.api.dependencies import get_service
from venvd.errors import InputError, VenvdError
from venvd.service import Service
from venvd.web._render import HtmlRoute, page
from venvd.web._session import COOKIE, Builder, WebUser, check_form

__all__ = ["router"]

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)

ServiceDep = Annotated[Service, Depends(get_service)]

# The form's target choices: the server's own platform, or a shorthand (`venvd.target`).
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_aarch64",
             "musllinux_1_2_x86_64", "linux_x86_64", "macosx_14_0_arm64", "macosx_11_0_x86_64",
             "win_amd64")
_MAX_FORM_TEXT = 64 * 1024


def _form(request: Request, *, status: int = 200, requirements: str = "", python: str = "",
          platform: str = "current", error: VenvdError | None = None) -> HTMLResponse:
    return page(request, "request.html", status=status, title="Request an environment",
                requirements=requirements, python=python, platform=platform,
                platforms=PLATFORMS, error=error)


@router.get("/request", response_class=HTMLResponse)
async def request_form(request: Request, user: Builder) -> Response:
    return _form(request)


@router.post("/request", response_class=HTMLResponse)
def request_post(
    request: Request,
    service: ServiceDep,
    user: Builder,
    requirements: Annotated[str, Form(max_length=_MAX_FORM_TEXT)] = "",
    python: Annotated[str, Form(max_length=50)] = "",
    platform: Annotated[str, Form(max_length=100)] = "current",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    from venvd.service._bodies import EnvironmentBody, ShorthandTarget, invalid_request

    check_form(request, user, csrf)
    shown = {"requirements": requirements, "python": python, "platform": platform}
    lines = [line.strip() for line in requirements.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    try:
        if not lines:
            raise InputError("give at least one requirement (one a line)", field="requirements")
        python, platform = python.strip(), platform.strip()
        if platform == "current" and not python:
            target: ShorthandTarget | Literal["current"] = "current"
        else:
            target = ShorthandTarget(python=python or None,
                                     platform=None if platform == "current" else platform)
        try:
            body = EnvironmentBody(requirements=lines, target=target)
        except ValidationError as exc:
            raise invalid_request(exc.errors()) from None
        data = body.to_service(max_tags=service.settings.max_compatible_tags,
                               direct_url_prefixes=service.limits.direct_url_prefixes)
        doc = service.environments.create_from_json(data)
    except VenvdError as exc:  # bad input, no resolution, a project on no index: the form again
        return _form(request, status=exc.http_status, error=exc, **shown)
    return RedirectResponse(f"/environments/{doc['id']}", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    return page(request, "login.html", title="Log in", next=_local(next), error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    token: Annotated[str, Form(max_length=500)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    check_form(request, WebUser(None, None, enforced=False), None)
    checker: TokenCheck | None = getattr(request.app.state, "token_check", None)
    target = _local(next)
    if checker is None or not checker.required:
        return RedirectResponse(target, status_code=303)
    record = await run_in_threadpool(checker.lookup, token.strip()) if token.strip() else None
    if record is None:
        from venvd.errors import Unauthorized

        return page(request, "login.html", status=401, title="Log in", next=target,
                    error=Unauthorized("the token is unknown or revoked"))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_form(request, WebUser(None, request.cookies.get(COOKIE), enforced=True), csrf)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _local(target: str) -> str:
    """`target` if it is a path on this server, else "/": the login form never sends a user away."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
