"""Who a page request is: the token behind the pages, and the checks a form POST passes.

When the server enforces tokens (`api._auth.auth_required`), a browser cannot send a bearer
header with a link or a form, so the token is given once in the login form and kept in a cookie:
HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Secure when the
page came over https. A page without a valid cookie (or bearer header) redirects to the login
form; a token whose scope is too small gets a 403 page. When tokens are not enforced (the
loopback default) there is no login and no cookie.

Form POSTs are checked twice: the browser's `Sec-Fetch-Site` (else `Origin`) must say same origin
(a page of another site may not make a loopback server build), and, when a cookie carries the token,
the form's `csrf` field must equal an HMAC of that token (`csrf_token`): a value another site
cannot compute because it cannot read the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from venvd.api._auth import TokenCheck
from venvd.errors import Forbidden, Unauthorized
from venvd.store import TokenRecord

__all__ = ["COOKIE", "Builder", "Reader", "WebUser", "check_form", "csrf_token", "web_user"]

COOKIE = "venvd_token"


class WebUser:
    """The request's token (None when tokens are not enforced) and where it came from."""

    def __init__(self, record: TokenRecord | None, secret: str | None, *, enforced: bool) -> None:
        self.record = record
        self.secret = secret
        self.enforced = enforced

    @property
    def csrf(self) -> str:
        """The value a form of this user must send back ('' when no cookie carries a token)."""
        return csrf_token(self.secret) if self.secret else ""


def csrf_token(secret: str) -> str:
    """An HMAC of the token: only a page that was served to its holder knows it."""
    return hmac.new(secret.encode(), b"venvd-web-csrf", hashlib.sha256).hexdigest()


def _secret_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.cookies.get(COOKIE) or None


async def web_user(request: Request, needed: str = "read") -> WebUser:
    """The user of a page that needs scope `needed`: Unauthorized (the page answers with the login
    form) without a valid token, Forbidden with a token whose scope is too small."""
    check: TokenCheck | None = getattr(request.app.state, "token_check", None)
    if check is None or not check.required:
        return WebUser(None, None, enforced=False)
    secret = _secret_of(request)
    if secret is None:
        raise Unauthorized("this server needs a token: log in", needed=needed)
    hit, record = check.cached(secret)
    if not hit:
        record = await run_in_threadpool(check.lookup, secret)
    return WebUser(check.verify(record, needed), secret, enforced=True)


async def _reader(request: Request) -> WebUser:
    request.state.web_user = user = await web_user(request, "read")  # pages show who is in
    return user


async def _builder(request: Request) -> WebUser:
    request.state.web_user = user = await web_user(request, "build")
    return user


# Route parameters: the user of a page that reads, of one that requests builds.
Reader = Annotated[WebUser, Depends(_reader)]
Builder = Annotated[WebUser, Depends(_builder)]


def check_form(request: Request, user: WebUser, csrf: str | None) -> None:
    """Forbidden unless a form POST comes from this server's own pages (see the module docstring).

    `Sec-Fetch-Site` (set by the browser, never by a page) decides when sent; else `Origin` must
    name the host the request was sent to: its `Host`, or the `X-Forwarded-Host` of a reverse
    proxy that rewrites `Host` (a page cannot add either header to a form post)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site not in ("same-origin", "none"):
            raise Forbidden("a form of another site may not post here", needed="same-origin")
    else:
        origin = request.headers.get("origin")
        hosts = {request.headers.get("host"), request.headers.get("x-forwarded-host")} - {None}
        # "null": a sandboxed frame or a redirect chain through another site.
        if origin is not None and (origin == "null" or urlsplit(origin).netloc not in hosts):
            raise Forbidden("a form of another site may not post here", needed="same-origin")
    carried = user.secret is not None and request.cookies.get(COOKIE) == user.secret
    if carried and not (csrf and hmac.compare_digest(csrf, user.csrf)):
        raise Forbidden("the form's CSRF token is missing or wrong: reload the page",
                        needed="csrf")
