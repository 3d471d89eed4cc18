"""The quick path of `venvd resolve -r FILE --server URL`: the common shape of the command
answered without importing click or packaging.

Why: on a cache hit the server answers in a few milliseconds, and the command's time is the
interpreter's start-up plus its imports. Measured with callgrind (instructions, bytecode
compiled): the whole command 494 M, of which `click` ≈ 130 M, `packaging.requirements` (its
tokenizer's and specifiers' regular expressions) ≈ 150 M and venvd's target and document modules
≈ 65 M, against 40 M for the bare interpreter; `uv pip compile --offline`, the peer, takes 20-40 ms.

The contract: `answer(argv)` either does exactly what the full command would do on success (the
same request body, so the same cache key and lock; the same output on stdout or in `-o FILE`
with the same line on stderr; the same spinner on a TTY) and returns True, or does nothing
visible and returns False, and the full command runs. It takes only arguments it understands
(`resolve` with -r/--requirement FILE, --python, --platform, --server, --token, --format,
-o/--output, each as a separate word), requirement files named *.txt or *.in whose every line
is a plain named requirement (no options, URLs, paths, hashes, variables or continuations),
and a server given by --server or VENVD_SERVER. It validates nothing itself: the server checks
the request, and any answer other than success (a bad requirement, no resolution, an
unreachable server) hands over to the full command, which checks locally and reports the
error exactly as it always does (the request is then made again: only failures pay for it).
"""

from __future__ import annotations

import os
import sys

__all__ = ["answer"]

_FORMATS = ("json", "requirements", "pylock")
_VALUED = {"-r": "files", "--requirement": "files", "--python": "python", "--platform": "platform",
           "--server": "server", "--token": "token", "--format": "format", "-o": "output",
           "--output": "output"}
# A character that makes a requirement line anything but a plain `name[extras] spec; marker`.
_UNPLAIN = frozenset("@/\\$:#{}`'|&*")


def answer(argv: list[str]) -> bool:
    """Run `venvd resolve ... --server URL` here if `argv` has the quick path's shape and the
    server answers with success; False (nothing done) otherwise."""
    if not argv or argv[0] != "resolve":
        return False
    given: dict[str, list[str]] = {}
    words = iter(argv[1:])
    for word in words:
        field = _VALUED.get(word)
        value = next(words, None)
        # An empty value means something of its own to click (`--server ""`: in-process).
        if field is None or not value or value.startswith("-"):
            return False
        given.setdefault(field, []).append(value)
    if any(len(values) > 1 for field, values in given.items() if field != "files"):
        return False
    one = {field: values[0] for field, values in given.items() if field != "files"}
    server = one.get("server") or os.environ.get("VENVD_SERVER")
    fmt = one.get("format", "json")
    if not server or fmt not in _FORMATS or not ("python" in one or "platform" in one):
        return False
    requirements = _requirements(given.get("files", []))
    if not requirements:
        return False
    # Typed without `typing`, whose import would cost this path a fifth of its time.
    body: dict[str, object] = {
        "requirements": requirements,
        "constraints": [],
        "target": {k: one[k] for k in ("python", "platform") if k in one},
        "options": {"prereleases": False, "exclude_newer": None, "only_binary": [],
                    "no_binary": []},
    }
    token = one.get("token") or os.environ.get("VENVD_TOKEN")
    return _post(server, body, len(requirements), fmt, token, one.get("output"))


def _requirements(files: list[str]) -> list[str] | None:
    """The requirement lines of `files` in order, each once, as the full command's reader keeps
    them (comments removed, stripped); None when a file is not a plain requirements file."""
    found: list[str] = []
    for name in files:
        if name == "-" or not name.endswith((".txt", ".in")):
            return None
        try:
            with open(name, encoding="utf-8") as file:
                text = file.read()
        except (OSError, UnicodeDecodeError):
            return None  # the full command names the problem
        for raw in text.splitlines():
            line = _uncommented(raw).strip()
            if not line:
                continue
            head = line.split(";", 1)[0]
            if (not line[0].isalnum() or line.endswith("\\") or not _UNPLAIN.isdisjoint(head)
                    or "--" in line):
                return None
            if line not in found:
                found.append(line)
    return found


def _uncommented(line: str) -> str:
    """`line` without a comment: `#` at its start or after whitespace, as pip reads it."""
    if line.lstrip().startswith("#"):
        return ""
    for at in range(1, len(line)):
        if line[at] == "#" and line[at - 1].isspace():
            return line[:at]
    return line


def _post(server: str, body: dict[str, object], count: int, fmt: str, token: str | None,
          output: str | None) -> bool:
    import json

    if sys.stderr.isatty():
        from venvd.cli._progress import Spinner

        with Spinner(f"Resolving {count} requirement(s)"):
            data = post_plain(server, "/v1/resolve", body, token=token, params={"format": fmt},
                              raise_for=_SERVER_WORK)
    else:  # no spinner to show: its module's imports (threading, typing) would be all it costs
        data = post_plain(server, "/v1/resolve", body, token=token, params={"format": fmt},
                          raise_for=_SERVER_WORK)
    if data is None:
        return False
    if fmt == "json":
        try:
            result = json.loads(data)
        except ValueError:
            return False
        text = json.dumps(result, indent=2, sort_keys=False) + "\n"
        summary = f"{len(result['packages'])} packages pinned" + (
            " (cached)" if result.get("cached") else "")
    else:
        text = data.decode("utf-8", errors="replace")
        summary = "resolved"
    if output:
        try:
            with open(output, "w") as file:
                file.write(text)
        except OSError:
            return False  # the full command reports it
        sys.stderr.write(f"venvd: {summary}; wrote {output}\n")
    else:
        sys.stdout.write(text)
    return True


# Error answers that came after the server's resolution work (no project, no resolution, its time
# budget, the upstream index): raised here as the server's error, as the full command reports it,
# instead of handing over to the full command, which would post the request again and wait for the
# same work a second time. Input errors (400, 413, 422) are cheap: the full command checks the
# request itself and names the file's line.
_SERVER_WORK = (404, 409, 502, 503, 504)


def post_plain(server: str, path: str, body: object, *, token: str | None = None,
               params: dict[str, str] | None = None, timeout: float = 600.0,
               connect_timeout: float = 10.0, raise_for: tuple[int, ...] = ()) -> bytes | None:
    """`venvd.cli._post.post` for the quick path: the body of a
    200 answer to a plain `http://host[:port]` server, or None for anything else (https, a
    token or URL out of the ordinary, an error status, a refused connection, a chunked or
    truncated answer), and the caller then runs the full command, which uses `post`. A complete
    answer whose status is in `raise_for` raises the server's error (its VenvdError, rebuilt by
    `venvd.client._http.error_from_response`, as `post` does).

    Why not `http.client`: its import (with `email.parser` and `ssl`) is about 100 M of the
    quick path's 215 M instructions (callgrind), more than the interpreter and everything else
    the command needs; a success over one plain HTTP/1.1 connection is all this must read."""
    import json
    import socket

    if not server.startswith("http://"):
        return None
    authority, _, prefix = server[len("http://"):].partition("/")
    host, colon, port_text = authority.rpartition(":")
    if not colon:
        host, port_text = authority, "80"
    if (not host or not port_text.isdigit() or not host.isascii()
            or any(c in host for c in "@[]/?# ")):
        return None
    if token is not None and (not token.isascii() or not token.isprintable() or " " in token):
        return None
    query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
    if query and not query.replace("&", "").replace("=", "").isalnum():
        return None  # nothing that would need quoting
    target = "/" + prefix.strip("/") + path if prefix.strip("/") else path
    payload = json.dumps(body).encode()
    head = [f"POST {target}{'?' + query if query else ''} HTTP/1.1", f"Host: {authority}",
            "Content-Type: application/json", "Accept: application/json, text/plain",
            f"Content-Length: {len(payload)}", "Connection: close"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    request = ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + payload
    answer = b""
    status = 0
    try:
        # The host as bytes: a str would be encoded by the idna codec, one more import (and an
        # ASCII name, checked above, encodes to itself).
        address = (host.encode("ascii"), int(port_text))
        with socket.create_connection(address, timeout=connect_timeout) as sock:  # type: ignore[arg-type]
            sock.settimeout(timeout)
            sock.sendall(request)
            head_length: int | None = None
            # Read the head, then exactly Content-Length bytes: a server (or proxy) that keeps the
            # connection open despite "Connection: close" must not leave this waiting.
            while chunk := sock.recv(65536):
                answer += chunk
                if head_length is None:
                    header_end = answer.find(b"\r\n\r\n")
                    if header_end < 0:
                        continue
                    status, length = _status_and_length(answer[:header_end])
                    if length is None or (status != 200 and status not in raise_for):
                        return None
                    head_length = header_end + 4 + length
                if len(answer) >= head_length:
                    break
            if head_length is None or len(answer) != head_length:
                return None  # closed early, or more than announced
    except (OSError, ValueError):
        return None
    header_end = answer.find(b"\r\n\r\n")
    data = answer[header_end + 4:]
    if status != 200:
        _raise_server_error(status, answer[:header_end], data)
    return data


def _raise_server_error(status: int, head: bytes, data: bytes) -> None:
    import httpx

    from venvd.client._http import error_from_response

    content_type = ""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-type":
            content_type = value.strip().decode("latin-1")
    raise error_from_response(
        httpx.Response(status, content=data, headers={"Content-Type": content_type}))


def _status_and_length(head: bytes) -> tuple[int, int | None]:
    """The status and Content-Length of an answer's `head`; the length None for a chunked
    answer, one without a length, or a head that is not HTTP/1.x."""
    status_line, *header_lines = head.split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or parts[0] not in (b"HTTP/1.1", b"HTTP/1.0") or not parts[1].isdigit():
        return 0, None
    status = int(parts[1])
    length: int | None = None
    for line in header_lines:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding" or (name == b"content-length"
                                            and not value.strip().isdigit()):
            return status, None
        if name == b"content-length":
            length = int(value)
    return status, length
