"""HttpClient: the service over HTTP, with the server's JSON errors raised as venvd errors."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from venvd import errors

__all__ = ["HttpClient", "error_from_response"]

# For a code this client does not know (a newer server): the nearest class by status.
_BY_STATUS: dict[int, type[errors.VenvdError]] = {
    400: errors.InputError,
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


class HttpClient:
    def __init__(self, server: str, *, timeout: float = 600.0) -> None:
        self.server = server.rstrip("/")
        self._http = httpx.Client(
            base_url=self.server, timeout=httpx.Timeout(timeout, connect=10.0)
        )

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

    def create_environment(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", "/v1/environments", json=body).json()  # type: ignore[no-any-return]

    def environment(self, env_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/environments/{env_id}").json()  # type: ignore[no-any-return]

    def events(self, env_id: str) -> Iterator[dict[str, Any]]:
        try:
            with self._http.stream(
                "GET",
                f"/v1/environments/{env_id}/events",
                timeout=httpx.Timeout(None, connect=10.0),
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        yield json.loads(line[5:].strip())
        except httpx.TransportError as exc:
            raise errors.UpstreamError(
                f"lost the event stream from {self.server}: {exc}", url=self.server
            ) from None

    def download(
        self, env_id: str, dest: Path, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, Any]:
        """Stream the artifact into `dest`, resuming a partial `dest.part` with a Range request."""
        part = dest.with_name(dest.name + ".part")
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        url = f"/v1/environments/{env_id}/artifact"
        try:
            with self._http.stream("GET", url, headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                    if response.status_code == 416:
                        part.unlink(missing_ok=True)
                        return self.download(env_id, dest, progress)
                    raise error_from_response(response)
                expected = response.headers.get("X-Venvd-Sha256", "")
                total = int(response.headers.get("X-Venvd-Size") or 0)
                mode = "ab" if response.status_code == 206 else "wb"
                done = have if mode == "ab" else 0
                with part.open(mode) as fh:
                    for chunk in response.iter_bytes(1 << 20):
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
        digest = hashlib.sha256()
        with part.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        if expected and digest.hexdigest() != expected:
            part.unlink(missing_ok=True)
            raise errors.HashMismatch(
                f"environment {env_id} arrived corrupted (sha256 mismatch)", url=self.server + url
            )
        os.replace(part, dest)
        return {"sha256": digest.hexdigest(), "size": dest.stat().st_size}

    def close(self) -> None:
        self._http.close()
