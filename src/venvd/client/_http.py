"""HttpClient: the service over HTTP, with the server's JSON errors raised as venvd errors.

No call waits forever: every request has connect and read timeouts (the progress stream too: the
server sends a heartbeat, so a silent stream is a broken one), a broken or expired progress stream is
reopened a bounded number of times with backoff, then the status document is polled, and following
a build gives up after `wait_timeout`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx

from venvd import errors
from venvd.client._artifact import HttpArtifact
from venvd.client._tls import LazyTrustContext

__all__ = ["HttpArtifact", "HttpClient", "error_from_response"]

# For a code this client does not know (a newer server): the nearest class by status.
_BY_STATUS: dict[int, type[errors.VenvdError]] = {
    400: errors.InputError,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    413: errors.RequestTooLarge,
    422: errors.InputError,
}
_CLASS_ATTRIBUTES = frozenset({"code", "http_status", "exit_code", "message", "details", "args"})


def error_from_response(response: httpx.Response) -> errors.VenvdError:
    """Rebuild the server's error as the most specific venvd error class for its `code` (the one
    the server raised, when this client knows it), with its message, details and the attributes
    its class carries (`causes`, `requirement`, `package`, `budget`, ...)."""
    try:
        body = response.json()["error"]
        message, code, details = str(body["message"]), str(body["code"]), dict(body.get("details") or {})
    except (ValueError, KeyError, TypeError):
        message = f"server answered HTTP {response.status_code}: {response.text[:200]}"
        code, details = "http_error", {}
    cls = errors.error_class(code)
    if cls is None:
        cls = _BY_STATUS.get(response.status_code, errors.VenvdError)
    # Built without the class's __init__ (each has its own signature): the server already wrote
    # the message; the attributes come from details.
    exc = cls.__new__(cls)
    errors.VenvdError.__init__(exc, message, **details)
    for name in _init_parameters(cls):
        setattr(exc, name, details.get(name))
    for name, value in details.items():
        if name not in _CLASS_ATTRIBUTES:
            setattr(exc, name, value)
    if code != cls.code:
        exc.code = code
    if response.status_code != cls.http_status:
        exc.http_status = response.status_code
    if response.status_code >= 500 and cls is errors.VenvdError:
        exc.exit_code = 3
    return exc


def _init_parameters(cls: type[errors.VenvdError]) -> list[str]:
    import inspect

    names = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is errors.VenvdError or klass is Exception:
            continue
        for param in inspect.signature(init).parameters.values():
            if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY) and (
                    param.name not in ("self", "message") and param.name not in _CLASS_ATTRIBUTES):
                names.append(param.name)
    return names


_TERMINAL = ("ready", "failed")
# Downloads of one artifact, when cache GC removes it in between (each time rebuilt by the server).
_DOWNLOAD_ATTEMPTS = 3


class HttpClient:
    def __init__(
        self,
        server: str,
        *,
        timeout: float = 600.0,
        connect_timeout: float = 10.0,
        stream_read_timeout: float = 60.0,
        stream_retries: int = 5,
        poll_interval: float = 1.0,
        wait_timeout: float = 4 * 3600.0,
        token: str | None = None,
    ) -> None:
        """`timeout` bounds each read of a plain request (a resolution may take a while);
        `stream_read_timeout` the silence tolerated on a progress stream (the server's heartbeat is
        far shorter); `stream_retries` the reconnections after failures in a row before polling
        every `poll_interval` seconds; `wait_timeout` following one build in all.

        `token` (default: the environment variable VENVD_TOKEN; empty means none) is sent as
        ``Authorization: Bearer``; httpx drops it on a redirect to another origin (a presigned
        object-store URL never sees it)."""
        self.server = server.rstrip("/")
        if token is None:
            token = os.environ.get("VENVD_TOKEN") or None
        headers = {}
        if token:
            if not token.isascii() or not token.isprintable() or " " in token:
                raise errors.InputError("the token (VENVD_TOKEN or --token) has characters a "
                                        "token never has (spaces, control or non-ASCII)")
            headers["Authorization"] = f"Bearer {token}"
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._stream_timeout = httpx.Timeout(stream_read_timeout, connect=connect_timeout)
        self._stream_retries = stream_retries
        self._poll_interval = poll_interval
        self._wait_timeout = wait_timeout
        self._http = httpx.Client(base_url=self.server, timeout=self._timeout, headers=headers,
                                  verify=LazyTrustContext())

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise errors.UpstreamTimeout(
                f"venvd server {self.server} did not answer in time", url=self.server
            ) from None
        except httpx.TransportError as exc:
            raise errors.UpstreamError(
                f"cannot reach venvd server {self.server}: {exc}", url=self.server
            ) from None
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def resolve(self, body: dict[str, Any], fmt: str = "json") -> dict[str, Any] | str:
        response = self._request("POST", "/v1/resolve", json=body, params={"format": fmt})
        return response.json() if fmt == "json" else response.text

    def gc(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """One cache GC pass on the server (`POST /v1/gc`, an admin token): its reports."""
        reports: list[dict[str, Any]] = self._request("POST", "/v1/gc", json=body).json()["reports"]
        return reports

    def create_environment(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", "/v1/environments", json=body).json()  # type: ignore[no-any-return]

    def environment(self, env_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/environments/{env_id}").json()  # type: ignore[no-any-return]

    def sbom(self, env_id: str) -> str:
        return self._request("GET", f"/v1/environments/{env_id}/sbom").text

    def environments_with(self, name: str, specifier: str, limit: int = 50,
                          offset: int = 0) -> dict[str, Any]:
        from urllib.parse import quote

        return self._request(  # type: ignore[no-any-return]
            "GET", f"/v1/packages/{quote(name, safe='')}/environments",
            params={"specifier": specifier, "limit": limit, "offset": offset}).json()

    def import_advisories(self, documents: Iterable[tuple[str, Any]]) -> dict[str, Any]:
        """POST /v1/advisories (an admin token) with the documents, in one request."""
        return self._request(  # type: ignore[no-any-return]
            "POST", "/v1/advisories", json=[doc for _, doc in documents]).json()

    def advisory_impact(self, package: str | None = None, advisory: str | None = None,
                        limit: int = 1000, offset: int = 0) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        params.update({k: v for k, v in (("package", package), ("advisory", advisory)) if v})
        return self._request(  # type: ignore[no-any-return]
            "GET", "/v1/advisories/impact", params=params).json()

    def why(self, env_id: str, name: str) -> dict[str, Any]:
        from urllib.parse import quote

        return self._request(  # type: ignore[no-any-return]
            "GET", f"/v1/environments/{quote(env_id, safe='')}/why/{quote(name, safe='')}").json()

    def events(self, env_id: str) -> Iterator[dict[str, Any]]:
        """Progress documents until the build is ready or failed (the last one says which).

        Follows the server's event stream, reopening it when it ends early (its lifetime) or
        breaks (after a failure, with exponential backoff, at most `stream_retries` failures in a
        row); then polls the status document. Raises UpstreamTimeout after `wait_timeout`, and
        UpstreamError when the server stays unreachable."""
        deadline = time.monotonic() + self._wait_timeout
        failures = 0
        while failures <= self._stream_retries:
            try:
                for event in self._stream(env_id):
                    failures = 0
                    yield event
                    if event.get("status") in _TERMINAL:
                        return
            except (httpx.TransportError, errors.UpstreamError):
                failures += 1
            self._check_deadline(env_id, deadline)
            # Backoff after failures; a short pause after a stream that merely ended.
            time.sleep(min(0.5 * 2 ** (failures - 1), 8.0) if failures else 0.2)
        yield from self._poll(env_id, deadline)

    def _stream(self, env_id: str) -> Iterator[dict[str, Any]]:
        """One connection to the event stream: its events until the server ends it."""
        with self._http.stream(
            "GET", f"/v1/environments/{env_id}/events", timeout=self._stream_timeout
        ) as response:
            if response.status_code >= 400:
                response.read()
                if response.status_code >= 500:
                    raise errors.UpstreamError(
                        f"venvd server {self.server} answered HTTP {response.status_code} "
                        "on the event stream",
                        url=self.server,
                    )
                raise error_from_response(response)
            for line in response.iter_lines():
                if line.startswith("data:"):
                    yield json.loads(line[5:].strip())

    def _poll(self, env_id: str, deadline: float) -> Iterator[dict[str, Any]]:
        """The status document every `poll_interval` seconds, as events, until the build ends;
        transport failures are retried like the stream's, then raised."""
        previous: dict[str, Any] | None = None
        failures = 0
        while True:
            try:
                doc = self.environment(env_id)
            except (errors.UpstreamError, errors.UpstreamTimeout):
                failures += 1
                if failures > self._stream_retries:
                    raise
                self._check_deadline(env_id, deadline)
                time.sleep(min(0.5 * 2 ** (failures - 1), 8.0))
                continue
            failures = 0
            event = {k: doc.get(k) for k in ("id", "status", "progress", "error")}
            if event != previous:
                yield event
                previous = event
            if event["status"] in _TERMINAL:
                return
            self._check_deadline(env_id, deadline)
            time.sleep(self._poll_interval)

    def _check_deadline(self, env_id: str, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise errors.UpstreamTimeout(
                f"environment {env_id} did not finish building within {self._wait_timeout:.0f} s "
                f"on {self.server}",
                url=self.server,
            )

    def download(
        self, env_id: str, dest: Path, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, Any]:
        """Stream the artifact into `dest`, resuming a partial `dest.part` with a Range request,
        following a redirect to the object store (a presigned URL); the bytes must have the size
        and sha256 the server announced, else HashMismatch and the partial file is gone. An artifact
        that cache GC removed meanwhile is rebuilt by the server: its build is followed and the
        download starts again (a bounded number of times)."""
        for attempt in range(_DOWNLOAD_ATTEMPTS):
            try:
                return self._download_once(env_id, dest, progress)
            except errors.NotFound as exc:
                if not exc.details.get("building") or attempt == _DOWNLOAD_ATTEMPTS - 1:
                    raise
                dest.with_name(dest.name + ".part").unlink(missing_ok=True)
                for event in self.events(env_id):
                    if event.get("status") == "failed":
                        raise errors.BuildError(
                            f"environment {env_id} was rebuilt after cache GC and failed: "
                            f"{(event.get('error') or {}).get('message', 'no reason given')}"
                        ) from None
        raise AssertionError("unreachable")

    def _download_once(
        self, env_id: str, dest: Path, progress: Callable[[int, int], None] | None
    ) -> dict[str, Any]:
        part = dest.with_name(dest.name + ".part")
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        url = f"/v1/environments/{env_id}/artifact"
        try:
            with self._http.stream(
                "GET", url, headers=headers, timeout=self._stream_timeout, follow_redirects=True
            ) as response:
                # What to verify comes from the venvd server, also when the bytes come from the
                # object store the server redirected to.
                announced = response.history[0].headers if response.history else response.headers
                if response.status_code >= 400:
                    response.read()
                    if response.status_code == 416:
                        part.unlink(missing_ok=True)
                        return self._download_once(env_id, dest, progress)
                    if response.history:
                        raise errors.UpstreamError(
                            f"the object store answered HTTP {response.status_code} for the "
                            f"artifact of environment {env_id}; run the command again",
                            url=self.server + url,
                        )
                    raise error_from_response(response)
                expected = announced.get("X-Venvd-Sha256", "")
                total = int(announced.get("X-Venvd-Size") or 0)
                mode = "ab" if response.status_code == 206 else "wb"
                done = have if mode == "ab" else 0
                with part.open(mode) as fh:
                    for chunk in response.iter_bytes():  # as received: a break keeps all that came
                        fh.write(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, total)
        except httpx.TransportError as exc:
            raise errors.UpstreamError(
                f"download of environment {env_id} from {self.server} broke off ({exc}); "
                "run the command again to resume",
                url=self.server,
            ) from None
        size = part.stat().st_size
        if total and size != total:
            part.unlink(missing_ok=True)
            raise errors.HashMismatch(
                f"environment {env_id} arrived with {size} bytes instead of {total}; "
                "run the command again", url=self.server + url
            )
        with part.open("rb") as fh:
            digest = hashlib.file_digest(fh, "sha256")
        if expected and digest.hexdigest() != expected:
            part.unlink(missing_ok=True)
            raise errors.HashMismatch(
                f"environment {env_id} arrived corrupted (sha256 mismatch)", url=self.server + url
            )
        os.replace(part, dest)
        return {"sha256": digest.hexdigest(), "size": dest.stat().st_size}

    def open_artifact(self, env_id: str) -> HttpArtifact:
        """The artifact of `env_id` as a source for `venvd.materialize.materialize`: its manifest
        frame first, then only the fragments the client lacks (see `HttpArtifact`)."""
        return HttpArtifact(self, env_id)

    def upload(self, index: str | None, path: Path) -> dict[str, Any]:
        """Upload `path` as twine does (multipart, streamed from the file), with the fields the
        server checks: its sha256, name and version (from the file name)."""
        from urllib.parse import quote

        from venvd.dist import parse_dist_filename

        if not index:
            raise errors.InputError("--index names the server's private index to upload to")
        parsed = parse_dist_filename(path.name)
        with path.open("rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
            fh.seek(0)
            fields = {":action": "file_upload", "protocol_version": "1", "sha256_digest": digest}
            if parsed is not None:
                fields.update(name=parsed[0], version=str(parsed[1]))
            response = self._request("POST", f"/{quote(index, safe='')}/", data=fields,
                                     files={"content": (path.name, fh, "application/octet-stream")})
        doc: dict[str, Any] = response.json()
        return doc

    def close(self) -> None:
        self._http.close()
