"""Retrying HTTP on one shared httpx.Client.

Contract of `Fetcher.call`: run one attempt; on a 5xx or 429 answer, a connection error or a
timeout, wait (exponential backoff with a little jitter, or the server's Retry-After up to
`RETRY_AFTER_CAP`) and try again, at most `retries` more times. When every attempt failed it raises
`UpstreamTimeout` if the last failure was a timeout, else `UpstreamError`; both name the index URL
(or the file URL) and the project. Other answers (2xx, 304, 4xx) are returned to the caller, which
decides what a 404 means.
"""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import netrc
import os
import random
import threading
import time
from collections.abc import Callable, Generator, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import httpx

from venvd.errors import UpstreamError, UpstreamTimeout

from ._config import Credential, origin

__all__ = ["RETRY_AFTER_CAP", "Fetcher", "IndexAuth", "Where", "make_client"]

T = TypeVar("T")

# A server asking us to wait longer than this is as good as down; the caller has a user waiting.
RETRY_AFTER_CAP = 10.0
# The service prefetches metadata from a thread pool of about this size.
POOL_SIZE = 16
USER_AGENT = "venvd/0.1 (+https://github.com/venvd)"


def make_client(timeout: float, auth: httpx.Auth | None = None) -> httpx.Client:
    """The shared client: HTTP/1.1 keep-alive pool sized for the prefetching thread pool."""
    limits = httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE)
    return httpx.Client(timeout=httpx.Timeout(timeout), limits=limits, follow_redirects=True,
                        headers={"User-Agent": USER_AGENT}, auth=auth)


class IndexAuth(httpx.Auth):
    """Basic auth for the origins credentials were configured for (`IndexConfig.credentials`),
    else from netrc (``$NETRC``, else ``~/.netrc``) for the request's host, else none.

    Credentials never become part of a URL: they are added to the request's headers only, so no
    URL that is stored, logged or shown carries them. httpx drops the header on a redirect to
    another origin.
    """

    def __init__(self, credentials: Iterable[Credential] = (), *, use_netrc: bool = True) -> None:
        self._by_origin = {o: (user, password) for o, user, password in credentials}
        self._use_netrc = use_netrc
        self._netrc: tuple[Path | None, netrc.netrc | None] | None = None
        self._netrc_lock = threading.Lock()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "Authorization" not in request.headers:
            url = request.url
            found = self._by_origin.get(origin(url.scheme, url.host, url.port))
            if found is None and self._use_netrc:
                found = self._from_netrc(url.host)
            if found is not None:
                token = base64.b64encode(f"{found[0]}:{found[1]}".encode()).decode("ascii")
                request.headers["Authorization"] = f"Basic {token}"
        yield request

    def _from_netrc(self, host: str) -> tuple[str, str] | None:
        path = Path(os.environ["NETRC"]) if os.environ.get("NETRC") else Path.home() / ".netrc"
        with self._netrc_lock:
            if self._netrc is None or self._netrc[0] != path:
                try:
                    parsed: netrc.netrc | None = netrc.netrc(str(path))
                except (OSError, netrc.NetrcParseError):
                    parsed = None  # no netrc (the usual case) or an unreadable one: no credentials
                self._netrc = (path, parsed)
            parsed = self._netrc[1]
        entry = parsed.authenticators(host) if parsed is not None else None
        if entry is None:
            return None
        login, _account, password = entry
        return login or "", password or ""


@dataclasses.dataclass(frozen=True)
class Where:
    """What a request is for, so that a failure can say so."""

    url: str
    index_url: str | None = None
    project: str | None = None

    def describe(self) -> str:
        origin = self.index_url or self.url
        return f"{origin} (project {self.project!r})" if self.project else origin


class RetryableStatus(Exception):
    """An answer worth retrying (5xx, 429); raised by attempts, consumed by `Fetcher.call`."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code} {response.reason_phrase}".strip())
        self.status = response.status_code
        self.retry_after = _retry_after(response.headers.get("Retry-After"))


def raise_for_retry(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 500 or response.status_code == 429:
        raise RetryableStatus(response)
    return response


class Fetcher:
    def __init__(self, client: httpx.Client, *, retries: int, backoff: float) -> None:
        self.client = client
        self.retries = max(0, retries)
        self.backoff = max(0.0, backoff)

    def get(self, url: str, where: Where, headers: dict[str, str] | None = None) -> httpx.Response:
        """GET `url` with retries; the body is read inside the attempt, so a cut body is retried."""
        return self.call(lambda: raise_for_retry(self.client.get(url, headers=headers)), where)

    def call(self, attempt: Callable[[], T], where: Where) -> T:
        failure = "no attempt made"
        timed_out = False
        for number in range(self.retries + 1):
            hint: float | None = None
            try:
                return attempt()
            except httpx.UnsupportedProtocol as exc:
                raise UpstreamError(f"cannot fetch from {where.describe()}: {exc}", url=where.url,
                                    project=where.project) from exc
            except httpx.TimeoutException as exc:
                failure, timed_out = f"timed out ({type(exc).__name__})", True
            except httpx.TransportError as exc:
                failure, timed_out = f"connection failed ({type(exc).__name__}: {exc})", False
            except RetryableStatus as exc:
                failure, timed_out, hint = str(exc), False, exc.retry_after
            if number < self.retries:
                time.sleep(self._delay(number, hint))
        attempts = self.retries + 1
        message = (f"upstream {where.describe()} failed: {failure} "
                   f"(url {where.url}, {attempts} attempt{'s' if attempts > 1 else ''})")
        error = UpstreamTimeout if timed_out else UpstreamError
        raise error(message, url=where.url, project=where.project)

    def _delay(self, number: int, hint: float | None) -> float:
        base = self.backoff * 2.0**number
        # Jitter spreads the retries of many threads that failed at the same moment.
        delay = base + random.uniform(0, base / 4)
        if hint is not None:
            delay = max(delay, min(hint, RETRY_AFTER_CAP))
        return delay


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from Retry-After (delta-seconds or HTTP-date); None if absent/garbled."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
