"""One JSON request to a venvd server over the standard library's `http.client`.

Why not `HttpClient` (httpx): `venvd resolve --server URL` on a cache hit is a single small POST, and
measured with `python -X importtime`, importing httpx (with httpcore, h11, its auth and models) cost
several times what `http.client` costs, more than the request itself. The command's goal is to stay
within 1.5 times `uv pip compile --offline`, start-up included, so this one request takes the thin path.
Everything else (builds, progress streams, downloads) keeps using `HttpClient`.

The contract is `HttpClient`'s for one request: connect and read timeouts, no redirects followed, the
token sent as a Bearer header, transport failures raised as UpstreamError / UpstreamTimeout naming the
server, and an answer of 400 or more raised as the venvd error the server sent (rebuilt by
`venvd.client._http.error_from_response`, loaded only then).
"""

from __future__ import annotations

import json
from typing import Any

from venvd import errors

__all__ = ["post"]


def post(server: str, path: str, body: Any, *, token: str | None = None,
         params: dict[str, str] | None = None, timeout: float = 600.0,
         connect_timeout: float = 10.0) -> bytes:
    """POST `body` as JSON to `server` + `path`; returns the body of a 2xx/3xx answer.

    Raises InputError for a malformed server URL or token, UpstreamTimeout when the server does
    not answer within the timeouts, UpstreamError when it cannot be reached, and the server's own
    error (by its `code`) for an answer of 400 or more."""
    import http.client
    from urllib.parse import urlencode, urlsplit

    server = server.rstrip("/")
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.InputError(f"the server URL {server!r} is not an http(s) URL", url=server)
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/plain"}
    if token:
        if not token.isascii() or not token.isprintable() or " " in token:
            raise errors.InputError("the token (VENVD_TOKEN or --token) has characters a "
                                    "token never has (spaces, control or non-ASCII)")
        headers["Authorization"] = f"Bearer {token}"
    target = parts.path.rstrip("/") + path + (f"?{urlencode(params)}" if params else "")
    payload = json.dumps(body).encode()
    connection: http.client.HTTPConnection
    try:
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(parts.hostname, parts.port,
                                                     timeout=connect_timeout)
        else:
            connection = http.client.HTTPConnection(parts.hostname, parts.port,
                                                    timeout=connect_timeout)
    except ValueError as exc:  # a non-numeric port
        raise errors.InputError(f"the server URL {server!r} is malformed: {exc}", url=server) from None
    try:
        connection.connect()
        if connection.sock is not None:
            connection.sock.settimeout(timeout)  # connect_timeout bounded the connection only
        connection.request("POST", target, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
        status, content_type = response.status, response.getheader("Content-Type") or ""
    except TimeoutError:
        raise errors.UpstreamTimeout(f"venvd server {server} did not answer in time",
                                     url=server) from None
    except (OSError, http.client.HTTPException) as exc:
        raise errors.UpstreamError(f"cannot reach venvd server {server}: {exc}",
                                   url=server) from None
    finally:
        connection.close()
    if status >= 400:
        import httpx

        from venvd.client._http import error_from_response

        raise error_from_response(
            httpx.Response(status, content=data, headers={"Content-Type": content_type}))
    return data
