"""The server as a package index (PEP 503/691): `/simple/`, `/simple/{project}/` and their files.

Pages link files relatively (`../../files/{sha256}/{filename}`), so the index works under any
host and path prefix a reverse proxy gives it. File answers are content-addressed (the sha256 is in
the URL), hence cacheable forever."""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from packaging.utils import InvalidName, canonicalize_name

from venvd.api._simple_render import (
    HTML_TYPE,
    JSON_TYPE,
    LEGACY_HTML_TYPE,
    ListedFile,
    PageFormat,
    negotiate,
    render_index,
    render_project,
)
from venvd.api.dependencies import get_service
from venvd.api.schemas import ERROR_RESPONSES, ErrorBody
from venvd.errors import NotFound
from venvd.service import Service

if TYPE_CHECKING:
    from venvd.service._simple import IndexFile

__all__ = ["listed", "router"]

router = APIRouter(tags=["package index"],
                   responses={s: ERROR_RESPONSES[s] for s in (422, 500, 502, 504)})

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_IMMUTABLE = "public, max-age=31536000, immutable"
_FORMAT = Query(description="A media type that overrides the Accept header (as PyPI's `?format=`)",
                max_length=200)
_PAGE_CONTENT: dict[str, Any] = {
    JSON_TYPE: {"schema": {"type": "object"}},
    HTML_TYPE: {"schema": {"type": "string"}},
    LEGACY_HTML_TYPE: {"schema": {"type": "string"}},
}
_NOT_ACCEPTABLE = {"model": ErrorBody,
                   "description": "No media type the client accepts is served (`not_acceptable`)"}
_BAD_FORMAT = {"model": ErrorBody, "description": "`format` is longer than 200 characters"}


def listed(files: Sequence[IndexFile], files_url: str) -> list[ListedFile]:
    """The renderer's entries for `files`, linked under `files_url` (ending in a slash)."""
    return [
        ListedFile(filename=f.filename, url=f"{files_url}{f.sha256}/{quote(f.filename)}",
                   sha256=f.sha256, requires_python=f.requires_python, yanked=f.yanked,
                   size=f.size, upload_time=f.upload_time, core_metadata_sha256=f.metadata_sha256)
        for f in files
    ]


@router.get("/simple/", summary="The package index's root: the projects this server knows",
            response_class=Response,
            responses={200: {"description": "PEP 691 JSON or PEP 503 HTML, by the Accept header",
                             "content": _PAGE_CONTENT},
                       406: _NOT_ACCEPTABLE, 422: _BAD_FORMAT})
def simple_root(request: Request, service: Annotated[Service, Depends(get_service)],
                format: Annotated[str | None, _FORMAT] = None) -> Response:
    """Every project whose upstream page the server has stored (it never crawls an index: a
    project appears once a resolution or a project page asked for it)."""
    kind = negotiate(request.headers.get("accept"), format)
    return Response(render_index(kind, service.simple.projects()), media_type=kind.content_type,
                    headers={"Vary": "Accept"})


@router.get("/simple/{project}/", summary="A project's files, for pip and uv",
            response_class=Response,
            responses={200: {"description": "PEP 691 JSON or PEP 503 HTML, by the Accept header",
                             "content": _PAGE_CONTENT},
                       301: {"description": "The name is not normalized: the PEP 503 URL"},
                       304: {"description": "Not modified: `If-None-Match` names the page's ETag"},
                       404: {"model": ErrorBody,
                             "description": "No index lists the project (`project_not_found`)"},
                       406: _NOT_ACCEPTABLE, 422: _BAD_FORMAT})
def simple_project(project: str, request: Request,
                   service: Annotated[Service, Depends(get_service)],
                   format: Annotated[str | None, _FORMAT] = None) -> Response:
    """The upstream listing (fetched lazily, revalidated after `page_ttl`) with its file URLs
    pointing at this server, plus the wheels this server built from the listed sdists for its
    own platform. Only files with a sha256 are listed; PEP 658 metadata files are offered
    where their hash is known."""
    try:
        normalized = canonicalize_name(project, validate=True)
    except InvalidName:
        raise NotFound(f"{project[:100]!r} is not a valid project name", project=project[:100]) from None
    if normalized != project:
        query = f"?{request.url.query}" if request.url.query else ""
        # Relative, so that it holds under any prefix a proxy (or a private index) puts in front.
        return RedirectResponse(f"../{normalized}/{query}", status_code=301)
    kind = negotiate(request.headers.get("accept"), format)
    found = service.simple.listing(normalized)
    rendered = _rendered.get(kind, found)
    if rendered is None:
        # The versions from the listing's parsed names: parsing file names again cost more
        # than the rest of rendering a large page.
        versions = [str(v) for v in sorted({f.version for f in found})]
        page = render_project(kind, normalized, listed(found, "../../files/"), versions)
        rendered = (page, f'"{hashlib.blake2b(page, digest_size=16).hexdigest()}"')
        _rendered.put(kind, found, rendered)
    page, etag = rendered
    headers = {"Vary": "Accept", "ETag": etag}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(page, media_type=kind.content_type, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names `etag` (weak comparison, as RFC 9110 asks)."""
    if not if_none_match:
        return False
    return any(tag.strip().removeprefix("W/") in (etag, "*") for tag in if_none_match.split(","))


class _Rendered:
    """Pages rendered lately (body, ETag), by format and listing: the service returns the same
    listing tuple while nothing changed, so a page is rendered once per change (a 4,000-file
    page takes tens of milliseconds to render). Bounded by the bytes held, oldest dropped
    first."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._held = 0
        self._pages: OrderedDict[tuple[PageFormat, int], tuple[object, tuple[bytes, str]]] = (
            OrderedDict())
        self._lock = threading.Lock()

    def get(self, kind: PageFormat, listing: object) -> tuple[bytes, str] | None:
        with self._lock:
            entry = self._pages.get((kind, id(listing)))
            # The entry holds its listing, so an id is not reused while it is kept; `is` makes
            # sure anyway.
            return entry[1] if entry is not None and entry[0] is listing else None

    def put(self, kind: PageFormat, listing: object, rendered: tuple[bytes, str]) -> None:
        if len(rendered[0]) > self._max:
            return
        with self._lock:
            old = self._pages.pop((kind, id(listing)), None)
            if old is not None:
                self._held -= len(old[1][0])
            self._pages[(kind, id(listing))] = (listing, rendered)
            self._held += len(rendered[0])
            while self._held > self._max:
                _, (_, dropped) = self._pages.popitem(last=False)
                self._held -= len(dropped[0])


_rendered = _Rendered(64 * 1024 * 1024)


@router.get("/files/{sha256}/{filename}", summary="A listed file, or its PEP 658 metadata file",
            response_class=FileResponse,
            responses={200: {"description": "The file's bytes, verified against its sha256",
                             "content": {"application/octet-stream": {}}},
                       206: {"description": "The requested range of the file",
                             "content": {"application/octet-stream": {}}},
                       404: {"model": ErrorBody,
                             "description": "No listing of this server has this file (`not_found`)"},
                       416: {"description": "The requested range is not in the file"}})
def simple_file(sha256: str, filename: str,
                service: Annotated[Service, Depends(get_service)]) -> FileResponse:
    """A file listed on a project page, by the sha256 the page gives: from the server's cache, or
    fetched from upstream on the first request and verified before anything reads it. The same
    URL with `.metadata` appended is the PEP 658 metadata file, when the page offers one. Range
    requests are answered."""
    if not _SHA256.fullmatch(sha256) or "/" in filename:
        raise NotFound("not a file of this index", sha256=sha256[:100])
    if filename.endswith(".metadata"):
        path = service.simple.metadata(sha256, filename.removesuffix(".metadata"))
    else:
        path = service.simple.file(sha256, filename)
    return FileResponse(path, media_type="application/octet-stream",
                        headers={"Cache-Control": _IMMUTABLE})
