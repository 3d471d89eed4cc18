"""Private indexes over HTTP: the legacy upload API twine speaks, and the files uploaded.

    POST /{index}/                            upload one file (multipart, `:action=file_upload`)
    GET  /{index}/simple/                     the index's projects (PEP 503 HTML / PEP 691 JSON)
    GET  /{index}/simple/{project}/           a project's files in this index only
    GET  /{index}/files/{sha256}/{filename}   an uploaded file (and `<filename>.metadata`, PEP 658)

Pages are rendered by the package index's renderer (`_simple_render`, negotiated as `/simple/`
is) and link files relatively, so the index works under any prefix a proxy gives it.

The upload answers as warehouse does: 200 on success, 4xx with the reason in the message twine
prints; nothing is stored unless every check passed (see `venvd.service._private`). The body is
streamed (the app's body limit lets uploads through up to the max_upload_bytes setting and
counts them; see `app.BodyLimit`); the token is checked before any of it is read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from packaging.utils import InvalidName, canonicalize_name
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.routing import Match
from starlette.types import Scope

from venvd.api._auth import AUTH_RESPONSES, requires
from venvd.api._simple_render import (
    HTML_TYPE,
    JSON_TYPE,
    LEGACY_HTML_TYPE,
    ListedFile,
    negotiate,
    render_index,
    render_project,
)
from venvd.api.dependencies import get_service
from venvd.api.schemas import ERROR_RESPONSES, ErrorBody
from venvd.errors import InvalidUpload, NotFound
from venvd.service import Service
from venvd.store import TokenRecord

if TYPE_CHECKING:  # the module is imported when a service has private indexes, not before
    from venvd.service._private import PrivateIndexes

__all__ = ["INDEX_PATTERN", "private_indexes", "router"]

INDEX_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_MAX_FIELDS = 1_000  # twine sends a few dozen metadata fields, classifiers one field each



class _OwnMethodsRoute(APIRoute):
    """A route that does not match a request of another method at all (no 405).

    Starlette redirects a path that no route matches to the same path with a slash added when some
    route matches that one, even only by path (a partial match, for another method): with
    `POST /{index}/` every unknown `GET /anything` would become a 307 to `/anything/`. These routes
    take a first path segment of any name, so they must not claim requests of other methods."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is Match.PARTIAL:
            return Match.NONE, {}
        return match, child_scope


router = APIRouter(tags=["private indexes"], route_class=_OwnMethodsRoute,
                   responses={s: ERROR_RESPONSES[s] for s in (404, 422, 500)})

Index = Annotated[str, Path(pattern=INDEX_PATTERN, description="A configured private index")]

_UPLOAD_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "required": [":action", "content"],
        "properties": {
            ":action": {"type": "string", "enum": ["file_upload"]},
            "protocol_version": {"type": "string", "enum": ["1"]},
            "content": {"type": "string", "format": "binary",
                        "description": "The wheel or sdist (.tar.gz)"},
            "sha256_digest": {"type": "string", "description": "Checked when given"},
            "name": {"type": "string", "description": "Checked against the file's when given"},
            "version": {"type": "string", "description": "Checked against the file's when given"},
        },
    }}},
}


def private_indexes(service: Service, index: str) -> PrivateIndexes:
    """The service's private indexes when `index` is one of them; NotFound otherwise."""
    if service.private is None:
        raise NotFound(f"no private index {index!r} on this server (none is configured)",
                       index=index)
    service.private.require(index)
    return service.private


@router.post(
    "/{index}/", summary="Upload a wheel or sdist to a private index (twine's legacy API)",
    openapi_extra={"requestBody": _UPLOAD_BODY},
    responses={200: {"description": "Stored: the file's record"},
               400: {**ERROR_RESPONSES[400], "description": "Not a valid upload: bad file name, "
                     "archive or metadata, metadata that disagrees with the file name, wrong "
                     "digest, too large (`invalid_upload`, details.problem)"},
               409: {**ERROR_RESPONSES[409], "description": "The file exists (uploads never "
                     "replace one), or the project exists upstream and the index may not "
                     "shadow it (`upload_conflict`)"},
               413: ERROR_RESPONSES[413], 502: ERROR_RESPONSES[502],
               507: {"model": ErrorBody, "description": "No space left to store it (`no_space`): "
                     "nothing was recorded"}, **AUTH_RESPONSES})
async def upload(
    index: Index, request: Request, service: Annotated[Service, Depends(get_service)],
    token: Annotated[TokenRecord | None, Depends(requires("build"))],
) -> dict[str, Any]:
    """Form fields as twine sends them: `:action` = `file_upload`, `content` (the file, named by
    its file name), `sha256_digest`, `name`, `version` (each checked when given); the other
    metadata fields are read from the file itself. Needs a `build` token when tokens are
    enforced (Bearer, or Basic with the user name `__token__`)."""
    private = private_indexes(service, index)
    try:
        form = await request.form(max_files=1, max_fields=_MAX_FIELDS)
    except InvalidUpload:
        raise
    except Exception as exc:  # Starlette's MultiPartException, a body that is not a form
        raise InvalidUpload(f"the body is not a multipart form upload: {exc}",
                            problem="form") from None
    try:
        action = form.get(":action")
        if action != "file_upload":
            raise InvalidUpload(f"unsupported :action {action!r} (this index takes "
                                "'file_upload')", problem="action")
        content = form.get("content")
        if not isinstance(content, UploadFile) or not content.filename:
            raise InvalidUpload("no file in the form's 'content' field", problem="content")
        record = await run_in_threadpool(
            private.upload, index, content.file, content.filename,
            sha256_digest=_text(form.get("sha256_digest")), name=_text(form.get("name")),
            version=_text(form.get("version")),
            uploaded_by=token.name if token is not None else None)
    finally:
        await form.close()
    return {"ok": True, "file": record.to_json()}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


_FORMAT = Query(description="A media type that overrides the Accept header (as PyPI's `?format=`)",
                max_length=200)
_PAGE: dict[int | str, dict[str, Any]] = {
    200: {"description": "PEP 691 JSON or PEP 503 HTML, by the Accept header",
               "content": {JSON_TYPE: {"schema": {"type": "object"}},
                           HTML_TYPE: {"schema": {"type": "string"}},
                           LEGACY_HTML_TYPE: {"schema": {"type": "string"}}}},
         406: {"model": ErrorBody, "description": "No media type the client accepts is served "
                                                  "(`not_acceptable`)"},
         **AUTH_RESPONSES}


@router.get("/{index}/simple/", summary="A private index's projects", response_class=Response,
            dependencies=[Depends(requires("read"))], responses=_PAGE)
def private_root(index: Index, request: Request,
                 service: Annotated[Service, Depends(get_service)],
                 format: Annotated[str | None, _FORMAT] = None) -> Response:
    """The projects this index holds files of (nothing from upstream)."""
    private = private_indexes(service, index)
    kind = negotiate(request.headers.get("accept"), format)
    return Response(render_index(kind, private.projects(index)), media_type=kind.content_type,
                    headers={"Vary": "Accept"})


@router.get("/{index}/simple/{project}/", summary="A project's files in a private index",
            response_class=Response, dependencies=[Depends(requires("read"))],
            responses={**_PAGE, 301: {"description": "The name is not normalized: the PEP 503 "
                                                     "URL"}})
def private_project(index: Index, project: str, request: Request,
                    service: Annotated[Service, Depends(get_service)],
                    format: Annotated[str | None, _FORMAT] = None) -> Response:
    """Only the files uploaded to this index (404 when it has none of the project: pip then
    reads its other indexes). Every file with its sha256, size, upload time, Requires-Python
    and its PEP 658 metadata file."""
    private = private_indexes(service, index)
    try:
        normalized = canonicalize_name(project, validate=True)
    except InvalidName:
        raise NotFound(f"{project[:100]!r} is not a valid project name",
                       project=project[:100]) from None
    if normalized != project:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"../{normalized}/{query}", status_code=301)
    kind = negotiate(request.headers.get("accept"), format)
    files = private.files(index, normalized)
    if not files:
        raise NotFound(f"the private index {index!r} has no file of {normalized}",
                       index=index, project=normalized)
    listed = [ListedFile(filename=f.filename, url=f"../../files/{f.sha256}/{quote(f.filename)}",
                         sha256=f.sha256, requires_python=f.requires_python, size=f.size,
                         upload_time=f.uploaded_at, core_metadata_sha256=f.metadata_sha256)
              for f in files]
    return Response(render_project(kind, normalized, listed), media_type=kind.content_type,
                    headers={"Vary": "Accept"})


@router.get(
    "/{index}/files/{sha256}/{filename}", summary="A file of a private index",
    dependencies=[Depends(requires("read"))], response_class=Response,
    responses={200: {"description": "The file's bytes (or its core metadata, for a name "
                                    "ending in .metadata)",
                     "content": {"application/octet-stream": {}}}, **AUTH_RESPONSES})
def private_file(index: Index, sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
                 filename: str, service: Annotated[Service, Depends(get_service)]) -> Response:
    """Immutable: a file name in a private index always means the same bytes."""
    private = private_indexes(service, index)
    metadata = filename.endswith(".metadata")
    file = private.file(index, sha256, filename.removesuffix(".metadata") if metadata else filename)
    path, size = private.open(file, metadata=metadata)
    headers = {"Cache-Control": "public, max-age=31536000, immutable"}
    media = "text/plain" if metadata else "application/octet-stream"
    if path is not None:
        return FileResponse(path, media_type=media, headers=headers,
                            filename=None if metadata else file.filename)
    return StreamingResponse(private.blocks(file, metadata=metadata), media_type=media,
                             headers={**headers, "Content-Length": str(size)})
