"""Bearer tokens with scopes, as FastAPI dependencies declared on routers and routes.

Scopes: ``read`` (resolve, status, events, artifacts, metrics), ``build`` (create environments,
which runs builds), ``admin`` (cache GC, tokens); each includes those before it. A route declares
what it needs with ``dependencies=[Depends(requires("build"))]``; OpenAPI then shows the bearer
security scheme on it.

Whether tokens are checked at all is decided once, when the app starts (`auth_required`): the
`auth` setting "required" always, "off" never, "auto" when `venvd serve` binds an address that is
not loopback. An app built without a bind address (tests, an embedding program) treats "auto" as
off: it is either the embedded default or its host must set `auth` itself. The address a request
arrives on is never used to decide: behind a reverse proxy on the same machine every request
comes from loopback.

A token is sent as ``Authorization: Bearer <token>``, or, for the tools that speak HTTP Basic only
(twine, pip, uv against /<index>/ and /<index>/simple/), as ``Authorization: Basic
base64("__token__:" + token)``: PyPI's convention, the user name ``__token__`` and the token as the
password. Accepted on every route; any other Basic user name is refused (401).

Tokens are looked up by their sha256 (`venvd.store.Tokens`); answers are cached in the process for
`CACHE_SECONDS`, so a token revoked in the store stops working on every API node within that
time, and a request costs no store round trip while its token is cached.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from venvd.api.schemas import ErrorBody
from venvd.errors import Forbidden, Unauthorized
from venvd.store import TOKEN_SCOPES, TokenRecord, Tokens, scope_allows

__all__ = ["AUTH_RESPONSES", "BASIC_USER", "CACHE_SECONDS", "TokenCheck", "auth_required",
           "basic_token", "is_loopback", "requires"]

CACHE_SECONDS = 2.0
_CACHE_MAX = 4096  # entries; unknown tokens are cached too, so a flood of them stays bounded
_TOUCH_SECONDS = 60.0  # last_used_at is written at most this often per token and process

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No bearer token, or an unknown or revoked one"},
    403: {"model": ErrorBody, "description": "The token's scope does not allow this route"},
}

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A venvd token (`venvd token create --scope read|build|admin`), sent as "
    "`Authorization: Bearer <token>`. Needed when the server enforces tokens (not on loopback "
    "by default). Tools that speak HTTP Basic only (twine, pip) send the user name `__token__` "
    "and the token as the password.",
)

BASIC_USER = "__token__"


def basic_token(header: str | None) -> str | None:
    """The token in an ``Authorization: Basic`` header (user `BASIC_USER`, the token as the
    password); None when the header is absent or of another scheme; Unauthorized for a Basic
    header that is not of that form."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user, sep, password = "", "", ""
    if not sep or user != BASIC_USER or not password:
        raise Unauthorized(f"HTTP Basic credentials must be the user name {BASIC_USER!r} and a "
                           "venvd token as the password")
    return password


def is_loopback(host: str) -> bool:
    """True for a loopback address or "localhost"; False for any other (0.0.0.0 and :: too)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def auth_required(setting: str, host: str | None) -> bool:
    """Whether tokens are enforced for the `auth` setting on a server bound to `host`."""
    if setting == "required":
        return True
    if setting == "off" or host is None:
        return False
    return not is_loopback(host)


class TokenCheck:
    """The tokens of one store, checked with a small time-bounded cache."""

    def __init__(self, tokens: Tokens, *, required: bool) -> None:
        self.tokens = tokens
        self.required = required
        self._cache: dict[str, tuple[float, TokenRecord | None]] = {}
        self._touched: dict[int, float] = {}
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Drop cached answers (after a token of this process's store was revoked)."""
        with self._lock:
            self._cache.clear()

    def cached(self, secret: str) -> tuple[bool, TokenRecord | None]:
        """(True, the answer) when a fresh answer for `secret` is cached, else (False, None).
        Never blocks on the store: the event loop may call it."""
        entry = self._cache.get(secret)
        if entry is not None and entry[0] > time.monotonic():
            return True, entry[1]
        return False, None

    def lookup(self, secret: str) -> TokenRecord | None:
        """The active token `secret` is, from the store (blocking), cached for CACHE_SECONDS;
        records its use (at most once a minute per token and process)."""
        record = self.tokens.authenticate(secret)
        now = time.monotonic()
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[secret] = (now + CACHE_SECONDS, record)
            due = record is not None and now - self._touched.get(record.id, -_TOUCH_SECONDS) >= _TOUCH_SECONDS
            if due and record is not None:
                self._touched[record.id] = now
        if due and record is not None:
            self.tokens.touch(record.id, datetime.now(UTC))
        return record

    def verify(self, record: TokenRecord | None, needed: str) -> TokenRecord:
        """`record` if it may do what needs `needed`; Unauthorized for no record, Forbidden for
        a scope too small."""
        if record is None:
            raise Unauthorized("the token is unknown or revoked", needed=needed)
        if not scope_allows(record.scope, needed):
            raise Forbidden(f"the token {record.name!r} has scope {record.scope!r}; this needs "
                            f"{needed!r}", needed=needed, scope=record.scope, token=record.name)
        return record


def requires(scope: str) -> Callable[..., Awaitable[TokenRecord | None]]:
    """A dependency that lets the request through when its token has `scope` (or more), or
    when tokens are not enforced; raises Unauthorized / Forbidden otherwise. It runs on the event
    loop (no thread hop per request) and goes to the store, in a thread, only on a cache miss."""
    if scope not in TOKEN_SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> TokenRecord | None:
        check: TokenCheck | None = getattr(request.app.state, "token_check", None)
        if check is None or not check.required:  # not started, or tokens not enforced
            return None
        if credentials is not None and credentials.credentials:
            secret: str | None = credentials.credentials
        else:
            secret = basic_token(request.headers.get("authorization"))
        if not secret:
            raise Unauthorized("this server needs a token: send 'Authorization: Bearer <token>' "
                               f"(VENVD_TOKEN or --token for the venvd client; user name "
                               f"{BASIC_USER!r} and the token as password for twine or pip)",
                               needed=scope)
        hit, record = check.cached(secret)
        if not hit:
            record = await run_in_threadpool(check.lookup, secret)
        request.state.token = check.verify(record, scope)
        return record

    dependency.__name__ = f"requires_{scope}"
    return dependency
