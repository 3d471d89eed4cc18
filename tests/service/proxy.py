"""A small HTTP proxy on loopback that injects the faults of a real network in front of a real server.

    proxy = FaultProxy("http://127.0.0.1:8000").start()    # serves proxy.url
    proxy.hold(lambda path: path.endswith(".whl"))          # such requests wait until release()
    proxy.cut(lambda path: path.endswith("/artifact"), after=1000)   # send 1000 body bytes, drop
    proxy.fail(lambda path: path.endswith("/events"), 503, times=10)

Every request is logged (method, path, headers). Responses are streamed through as they arrive
(server-sent events included) and each connection is closed after one response.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

Match = Callable[[str], bool]


@dataclass
class Logged:
    method: str
    path: str
    headers: dict[str, str]


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.requests: list[Logged] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._hold: Match | None = None
        self._cuts: list[list[Any]] = []
        self._fails: list[list[Any]] = []
        self._server: ThreadingHTTPServer | None = None

    # -- faults -----------------------------------------------------------------------------
    def hold(self, match: Match) -> None:
        """Matching requests wait (unanswered) until `release()`."""
        self._released.clear()
        self._hold = match

    def release(self) -> None:
        self._hold = None
        self._released.set()

    def cut(self, match: Match, after: int, times: int = 1) -> None:
        """The next `times` matching responses stop after `after` body bytes (connection dropped)."""
        with self._lock:
            self._cuts.append([match, after, times])

    def fail(self, match: Match, status: int, times: int = 1) -> None:
        """The next `times` matching requests are answered `status` without reaching upstream."""
        with self._lock:
            self._fails.append([match, status, times])

    def _take(self, faults: list[list[Any]], path: str) -> Any:
        with self._lock:
            for fault in faults:
                if fault[2] > 0 and fault[0](path):
                    fault[2] -= 1
                    return fault[1]
        return None

    def requests_to(self, suffix: str) -> list[Logged]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0].endswith(suffix)]

    # -- server -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_Handler):
            pass

        Handler.proxy = proxy
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _Handler(BaseHTTPRequestHandler):
    proxy: FaultProxy
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def _forward(self) -> None:
        proxy = self.proxy
        path = self.path
        with proxy._lock:
            proxy.requests.append(Logged(self.command, path, dict(self.headers.items())))
        hold = proxy._hold
        if hold is not None and hold(path):
            proxy._released.wait(120)
        status = proxy._take(proxy._fails, path)
        if status is not None:
            body = b'{"error": {"code": "injected", "message": "injected fault", "details": {}}}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        cut = proxy._take(proxy._cuts, path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
        }
        conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=300)
        try:
            conn.request(self.command, path, body=body, headers=headers)
            response = conn.getresponse()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "date", "server"):
                    self.send_header(key, value)
            self.end_headers()
            sent = 0
            while True:
                chunk = response.read1(65536)
                if not chunk:
                    break
                if cut is not None and sent + len(chunk) >= cut:
                    self.wfile.write(chunk[: cut - sent])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(chunk)
                self.wfile.flush()
                sent += len(chunk)
        except OSError:
            self.close_connection = True
        finally:
            conn.close()
