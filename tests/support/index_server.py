"""A real PEP 503/691 simple index served over HTTP from files the tests build.

    index = LocalIndex(tmp_path / "files")          # serves http://127.0.0.1:PORT/simple/
    index.add(make_wheel(...), upload_time="2024-01-01T00:00:00Z", yanked="broken")
    with index:                                      # starts the server thread
        ... index.url ...

Switches model the index features venvd must cope with: `json` (PEP 691 when asked), `pep658`
(`.metadata` files, PEP 714 `data-core-metadata`), `ranges` (HTTP Range on files), `etag` (conditional
requests). `requests` logs every request (method, path, headers) so tests can assert what was fetched;
`fail(prefix, status, times)` injects upstream faults.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import json
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

__all__ = ["IndexedFile", "LocalIndex"]

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


@dataclasses.dataclass
class IndexedFile:
    path: Path
    project: str
    sha256: str
    upload_time: str | None = None
    yanked: str | bool = False
    requires_python: str | None = None
    metadata: bytes | None = None  # core metadata of a wheel, for PEP 658


@dataclasses.dataclass
class LoggedRequest:
    method: str
    path: str
    headers: dict[str, str]


def _wheel_metadata(path: Path) -> bytes | None:
    """The wheel's METADATA, or None (no PEP 658 file is served) for a zip too broken to read."""
    with zipfile.ZipFile(path) as zf:
        name = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA")), None)
        return zf.read(name) if name is not None else None


class LocalIndex:
    def __init__(
        self,
        root: Path,
        *,
        json: bool = True,
        pep658: bool = True,
        ranges: bool = True,
        etag: bool = True,
    ) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.json = json
        self.pep658 = pep658
        self.ranges = ranges
        self.etag = etag
        self.files: dict[str, IndexedFile] = {}
        self.requests: list[LoggedRequest] = []
        self._faults: list[list[Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.auth: tuple[str, str] | None = None  # see `require_auth`
        self.unlisted: dict[str, Path] = {}  # see `serve_unlisted`
        self.redirects: dict[str, str] = {}  # path → absolute URL answered with 302

    # -- content ----------------------------------------------------------------------------
    def add(
        self,
        path: Path,
        *,
        upload_time: str | None = "2024-01-01T00:00:00Z",
        yanked: str | bool = False,
        requires_python: str | None = None,
    ) -> IndexedFile:
        """Serve `path` (a wheel or sdist; copied under root if elsewhere)."""
        if path.parent != self.root:
            target = self.root / path.name
            target.write_bytes(path.read_bytes())
            path = target
        if path.name.endswith(".whl"):
            project = parse_wheel_filename(path.name)[0]
            metadata: bytes | None = _wheel_metadata(path)
        else:
            project = parse_sdist_filename(path.name)[0]
            metadata = None
        entry = IndexedFile(
            path=path,
            project=str(project),
            sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            upload_time=upload_time,
            yanked=yanked,
            requires_python=requires_python,
            metadata=metadata,
        )
        with self._lock:
            self.files[path.name] = entry
        return entry

    def serve_unlisted(self, path: Path, name: str | None = None) -> str:
        """Serve `path` at ``/direct/<name>`` (default: its file name) without listing it on any
        project page (a direct reference's file); its URL (the index must be started)."""
        name = name or path.name
        with self._lock:
            self.unlisted[name] = path
        return f"{self.base_url}/direct/{name}"

    def remove(self, filename: str) -> None:
        with self._lock:
            del self.files[filename]

    def fail(self, path_prefix: str, status: int, times: int = 1) -> None:
        """Answer the next `times` requests whose path starts with `path_prefix` with `status`
        (0 drops the connection without an answer)."""
        with self._lock:
            self._faults.append([path_prefix, status, times])

    def require_auth(self, user: str, token: str) -> None:
        """Answer 401 to every request without HTTP basic auth of `user`/`token`."""
        self.auth = (user, token)

    def lie_about_metadata(self, filename: str, metadata: bytes) -> None:
        """Serve `metadata` (and list its hash) as the PEP 658 `.metadata` file of `filename`,
        whatever the wheel's own METADATA says."""
        with self._lock:
            self.files[filename] = dataclasses.replace(self.files[filename], metadata=metadata)

    def requests_to(self, suffix: str) -> list[LoggedRequest]:
        return [r for r in self.requests if r.path.endswith(suffix)]

    # -- server -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the index first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/simple/"

    def file_url(self, filename: str) -> str:
        return f"{self.base_url}/files/{filename}"

    def start(self) -> LocalIndex:
        index = self

        class Handler(_Handler):
            pass

        Handler.index = index
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalIndex:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- rendering --------------------------------------------------------------------------
    def _project_files(self, project: str) -> list[IndexedFile]:
        with self._lock:
            return sorted(
                (f for f in self.files.values() if f.project == project), key=lambda f: f.path.name
            )

    def project_json(self, project: str) -> dict[str, Any]:
        files = []
        for f in self._project_files(project):
            entry: dict[str, Any] = {
                "filename": f.path.name,
                "url": f"../../files/{f.path.name}",
                "hashes": {"sha256": f.sha256},
                "requires-python": f.requires_python,
                "size": f.path.stat().st_size,
                "upload-time": f.upload_time,
                "yanked": f.yanked,
            }
            if self.pep658 and f.metadata is not None:
                entry["core-metadata"] = {"sha256": hashlib.sha256(f.metadata).hexdigest()}
            files.append(entry)
        return {
            "meta": {"api-version": "1.1"},
            "name": project,
            "files": files,
            "versions": sorted({_version_of(f.path.name) for f in self._project_files(project)}),
        }

    def project_html(self, project: str) -> str:
        links = []
        for f in self._project_files(project):
            attrs = [f'href="../../files/{f.path.name}#sha256={f.sha256}"']
            if f.requires_python:
                attrs.append(f'data-requires-python="{html.escape(f.requires_python)}"')
            if f.yanked is not False:
                reason = "" if f.yanked is True else html.escape(str(f.yanked))
                attrs.append(f'data-yanked="{reason}"')
            if self.pep658 and f.metadata is not None:
                digest = hashlib.sha256(f.metadata).hexdigest()
                attrs.append(f'data-core-metadata="sha256={digest}"')
                attrs.append(f'data-dist-info-metadata="sha256={digest}"')
            links.append(f"<a {' '.join(attrs)}>{f.path.name}</a><br/>")
        return (
            '<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.0">'
            f"<title>Links for {project}</title></head><body><h1>Links for {project}</h1>"
            + "\n".join(links)
            + "</body></html>"
        )

    def projects(self) -> list[str]:
        with self._lock:
            return sorted({f.project for f in self.files.values()})

    def take_fault(self, path: str) -> int | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault[0]) and fault[2] > 0:
                    fault[2] -= 1
                    return int(fault[1])
        return None


def _version_of(filename: str) -> str:
    if filename.endswith(".whl"):
        return str(parse_wheel_filename(filename)[1])
    return str(parse_sdist_filename(filename)[1])


class _Handler(BaseHTTPRequestHandler):
    index: LocalIndex
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        index = self.index
        path = self.path.split("?", 1)[0]
        with index._lock:
            index.requests.append(LoggedRequest(self.command, path, dict(self.headers.items())))
        if index.auth is not None:
            expected = "Basic " + base64.b64encode(":".join(index.auth).encode()).decode()
            if self.headers.get("Authorization") != expected:
                self._send(401, b"authentication required", "text/plain", head,
                           extra={"WWW-Authenticate": 'Basic realm="test index"'})
                return
        fault = index.take_fault(path)
        if fault is not None:
            if fault == 0:
                self.close_connection = True
                self.connection.close()
                return
            self._send(fault, b'{"message": "injected fault"}', "application/json", head)
            return
        if path in index.redirects:
            self._send(302, b"", "text/plain", head, extra={"Location": index.redirects[path]})
        elif path in ("/simple", "/simple/"):
            self._serve_root(head)
        elif path.startswith("/simple/"):
            self._serve_project(canonicalize_name(path[len("/simple/") :].strip("/")), head)
        elif path.startswith("/files/"):
            self._serve_file(path[len("/files/") :], head)
        elif path.startswith("/direct/") and path[len("/direct/") :] in index.unlisted:
            data = index.unlisted[path[len("/direct/") :]].read_bytes()
            self._send(200, data, "application/octet-stream", head)
        else:
            self._send(404, b"not found", "text/plain", head)

    def _wants_json(self) -> bool:
        return self.index.json and JSON_TYPE in self.headers.get("Accept", "")

    def _serve_root(self, head: bool) -> None:
        names = self.index.projects()
        if self._wants_json():
            body = json.dumps(
                {"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]}
            ).encode()
            self._send(200, body, JSON_TYPE, head)
        else:
            links = "".join(f'<a href="{n}/">{n}</a>' for n in names)
            self._send(200, f"<html><body>{links}</body></html>".encode(), "text/html", head)

    def _serve_project(self, project: str, head: bool) -> None:
        if project not in self.index.projects():
            self._send(404, b"no such project", "text/plain", head)
            return
        if self._wants_json():
            body = json.dumps(self.index.project_json(project), sort_keys=True).encode()
            ctype = JSON_TYPE
        else:
            body = self.index.project_html(project).encode()
            ctype = "text/html"
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        extra = {"Cache-Control": "max-age=600"}
        if self.index.etag:
            extra["ETag"] = etag
            if self.headers.get("If-None-Match") == etag:
                self._send(304, b"", ctype, head=True, extra=extra)
                return
        self._send(200, body, ctype, head, extra=extra)

    def _serve_file(self, name: str, head: bool) -> None:
        index = self.index
        if name.endswith(".metadata"):
            entry = index.files.get(name[: -len(".metadata")])
            if entry is None or entry.metadata is None or not index.pep658:
                self._send(404, b"no metadata", "text/plain", head)
                return
            self._send(200, entry.metadata, "application/octet-stream", head)
            return
        entry = index.files.get(name)
        if entry is None:
            self._send(404, b"no such file", "text/plain", head)
            return
        data = entry.path.read_bytes()
        rng = self.headers.get("Range")
        if index.ranges and rng and rng.startswith("bytes="):
            start_text, _, end_text = rng[len("bytes=") :].partition("-")
            size = len(data)
            if start_text == "":
                start, end = max(0, size - int(end_text)), size - 1
            else:
                start = int(start_text)
                end = min(int(end_text), size - 1) if end_text else size - 1
            if start >= size:
                self._send(416, b"", "text/plain", head, extra={"Content-Range": f"bytes */{size}"})
                return
            self._send(
                206,
                data[start : end + 1],
                "application/octet-stream",
                head,
                extra={"Content-Range": f"bytes {start}-{end}/{size}", "Accept-Ranges": "bytes"},
            )
            return
        extra = {"Accept-Ranges": "bytes"} if index.ranges else {}
        self._send(200, data, "application/octet-stream", head, extra=extra)

    def _send(
        self, status: int, body: bytes, ctype: str, head: bool, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)


def iter_index_files(index: LocalIndex) -> Iterator[IndexedFile]:
    yield from index.files.values()
