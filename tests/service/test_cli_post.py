"""The resolve command's thin request path (`venvd.cli._post`) against a real local HTTP server:
the same answers and errors as `HttpClient` gives."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from venvd import errors
from venvd.cli._post import post


class _Server:
    """Answers every POST with the next queued (status, content type, body); records requests."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, str, bytes]] = []
        self.seen: list[dict[str, Any]] = []
        self.stall = threading.Event()  # set: answer nothing until `release`
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                owner.seen.append({"path": self.path, "headers": dict(self.headers),
                                   "body": json.loads(self.rfile.read(length))})
                if owner.stall.is_set():
                    owner.release.wait()
                    return
                status, ctype, body = owner.answers.pop(0)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    try:
        yield s
    finally:
        s.close()


def test_answer_body_path_prefix_and_token(server: _Server) -> None:
    server.answers.append((200, "application/json", b'{"packages": []}'))
    data = post(server.url + "/prefix/", "/v1/resolve", {"requirements": ["a"]}, token="t0k",
                params={"format": "json"})
    assert json.loads(data) == {"packages": []}
    seen = server.seen[0]
    assert seen["path"] == "/prefix/v1/resolve?format=json"
    assert seen["headers"]["Authorization"] == "Bearer t0k"
    assert seen["body"] == {"requirements": ["a"]}


def test_server_errors_keep_their_type(server: _Server) -> None:
    body = {"error": {"code": "resolution_impossible", "message": "no way",
                      "details": {"causes": ["a needs b"]}}}
    server.answers.append((422, "application/json", json.dumps(body).encode()))
    with pytest.raises(errors.ResolutionImpossible) as caught:
        post(server.url, "/v1/resolve", {})
    assert caught.value.message == "no way" and caught.value.causes == ["a needs b"]


def test_a_server_failure_without_json_exits_3(server: _Server) -> None:
    server.answers.append((502, "text/html", b"<html>bad gateway</html>"))
    with pytest.raises(errors.VenvdError) as caught:
        post(server.url, "/v1/resolve", {})
    assert caught.value.exit_code == 3 and "502" in caught.value.message


def test_unreachable_server_is_an_upstream_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(errors.UpstreamError) as caught:
        post(f"http://127.0.0.1:{port}", "/v1/resolve", {})
    assert f"127.0.0.1:{port}" in caught.value.message


def test_a_silent_server_times_out(server: _Server) -> None:
    server.stall.set()
    with pytest.raises(errors.UpstreamTimeout):
        post(server.url, "/v1/resolve", {}, timeout=0.3)


@pytest.mark.parametrize("url", ["ftp://host/", "http://", "http://host:port/"])
def test_malformed_server_urls_are_input_errors(url: str) -> None:
    with pytest.raises(errors.InputError):
        post(url, "/v1/resolve", {})


def test_a_token_with_a_space_is_refused_before_sending(server: _Server) -> None:
    with pytest.raises(errors.InputError):
        post(server.url, "/v1/resolve", {}, token="a b")
    assert server.seen == []


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_resolve_loads_only_its_own_command() -> None:
    """`venvd resolve` imports neither the other commands nor the service, httpx or rich."""
    loaded = _run(
        "import sys\n"
        "from venvd.cli import main\n"
        "try:\n    main(['resolve', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('httpx', 'sqlalchemy', 'rich', 'venvd.service', 'venvd.cli._env',"
        " 'venvd.cli._serve')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n")
    assert loaded.strip().splitlines()[-1] == "[]"


def test_help_still_lists_every_command() -> None:
    text = _run("from venvd.cli import main\n"
                "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n")
    for command in ("create", "export", "gc", "resolve", "serve", "token", "worker"):
        assert f"  {command} " in text or f"  {command}\n" in text, text
