"""Environments: create (resolve + build in one round trip), status, progress events, artifact."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from venvd.api._auth import requires
from venvd.api._progress import progress_hub
from venvd.api.dependencies import get_service
from venvd.api.schemas import ERROR_RESPONSES, EnvironmentBody
from venvd.service import Service

# Every route: an unknown id (404), a bad path or header (422), a fault (500).
router = APIRouter(prefix="/v1/environments", tags=["environments"],
                   responses={s: ERROR_RESPONSES[s] for s in (404, 422, 500)})

# How often an events stream waiting for a change looks whether its client left or the server
# stops (Starlette also ends a stream at once when its client disconnects).
_CHECK_SECONDS = 0.5

_EXAMPLE = {
    "requirements": ["django>=1.8", "requests>=2.7"],
    "target": {"python": "3.11", "platform": "manylinux_2_28_x86_64"},
}


_CREATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The environment is ready"},
    202: {"description": "The environment is queued or building; follow its events"},
    **{status: ERROR_RESPONSES[status] for status in (400, 404, 409, 413, 422, 500, 502, 503, 504)},
}


@router.post("", summary="Resolve (if given requirements) and build an environment",
             responses=_CREATE_RESPONSES, dependencies=[Depends(requires("build"))])
def create(
    body: EnvironmentBody = Body(..., examples=[_EXAMPLE]), service: Service = Depends(get_service)
) -> JSONResponse:
    """Body: `{"requirements": [...], "constraints": [...], "options": {...}, "target": ...}` or
    `{"lock": <JSON lock>, "target": ...}`. 200 with the ready environment, or 202 while it builds.
    The id is the environment key: the same input always gives the same id.

    Bounds (settings, 422 naming the one passed): max_requirements, max_constraints,
    max_requirement_length, max_lock_packages, max_compatible_tags; the resolution's time budget
    (503)."""
    data = body.to_service(max_tags=service.settings.max_compatible_tags,
                           direct_url_prefixes=service.limits.direct_url_prefixes)
    doc = service.environments.create_from_json(data)
    return JSONResponse(doc, status_code=200 if doc["status"] == "ready" else 202,
                        headers=body.document_headers())


@router.get("/{env_id}", summary="Status, progress, timings and manifest of an environment")
def status(env_id: str, service: Service = Depends(get_service)) -> dict[str, Any]:
    result: dict[str, Any] = service.environments.status(env_id)
    return result


@router.get("/{env_id}/events", summary="Server-sent events of build progress")
async def events(
    env_id: str, request: Request, service: Service = Depends(get_service)
) -> StreamingResponse:
    """One `event: <status>` with the progress document each time it changes, until the build
    is ready or failed. A stream lasts at most `events_max_seconds` (the client then reconnects)
    and carries a comment line every `events_heartbeat_seconds`, so clients may time out reads."""
    # The streams of one process share one watcher (`api._progress`): a change costs one store
    # read however many clients watch it, and an open stream holds no thread.
    settings = service.settings
    first = await asyncio.to_thread(service.environments.snapshot, env_id)  # 404 before the stream
    hub = progress_hub(request.app, service.store)

    async def stream() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        started = last_sent = loop.time()
        sent = 0  # the channel version last sent
        async with hub.subscribe(env_id, first) as channel:
            yield b"retry: 1000\n\n"
            while True:
                if channel.version != sent:
                    current, sent = channel.document, channel.version
                    yield f"event: {current['status']}\ndata: {json.dumps(current)}\n\n".encode()
                    last_sent = loop.time()
                    if current["status"] in ("ready", "failed"):
                        return
                now = loop.time()
                if now - started >= settings.events_max_seconds:
                    return
                if now - last_sent >= settings.events_heartbeat_seconds:
                    yield b": keep-alive\n\n"
                    last_sent = now
                await channel.wait(sent, min(started + settings.events_max_seconds - now,
                                             last_sent + settings.events_heartbeat_seconds - now,
                                             _CHECK_SECONDS))
                # The client left, or the server is stopping (`venvd serve` sets app.state.stopping).
                if getattr(request.app.state, "stopping", False) or await request.is_disconnected():
                    return

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/{env_id}/artifact", summary="The environment archive (tar + zstd), resumable",
            responses={206: {"description": "The requested range"},
                       307: {"description": "Redirect to a presigned URL of the object store "
                                            "(setting presign_downloads)"},
                       416: {"description": "The range is past the end of the archive"}})
def artifact(
    env_id: str,
    service: Service = Depends(get_service),
    range_header: str | None = Header(None, alias="Range"),
) -> Response:
    """Streamed from the object store, whichever node built it, with `Range` support: the archive
    is the concatenation of its parts (manifest frame, cached fragments, end frame; see
    `/manifest`), sent in order without a copy being made. With `presign_downloads` on an S3
    store, a 307 to a presigned URL. Either way the headers `X-Venvd-Sha256` and `X-Venvd-Size`
    give what the client must verify. An artifact that cache GC removed is rebuilt: 404 with
    `details.building` (follow the build, then ask again). What is served is leased while it is
    served, so GC leaves it alone."""
    environments = service.environments
    artifacts = environments.artifacts
    settings = service.settings
    record, served = environments.artifact(env_id)
    size = served.size
    headers = {
        "Accept-Ranges": "bytes",
        "X-Venvd-Sha256": record.sha256 or "",
        "X-Venvd-Size": str(size),
        "ETag": f'"{record.sha256}"',
        "Content-Disposition": f'attachment; filename="{env_id}.tar.zst"',
    }
    if settings.presign_downloads:
        url = artifacts.presigned(record, served, settings.presign_expiry)
        if url is not None:
            return Response(status_code=307, headers={**headers, "Location": url,
                                                      "Cache-Control": "no-store"})
    headers["Cache-Control"] = "public, max-age=31536000, immutable"
    start, end = 0, size - 1
    status = 200
    if range_header and range_header.startswith("bytes="):
        first, _, last = range_header[6:].split(",")[0].partition("-")
        try:
            if first:
                start = int(first)
                end = min(int(last), size - 1) if last else size - 1
            else:
                start = max(0, size - int(last))
        except ValueError:
            start, end = 0, size - 1
        if start >= size or start > end:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    # A generous bound at 1 MB/s: a stalled client's lease lapses, a live one is released at the end.
    blocks = artifacts.open(record, served, start, end, 600.0 + (end - start + 1) / 1e6)
    return StreamingResponse(blocks, status_code=status, headers=headers,
                             media_type="application/zstd")


@router.get("/{env_id}/manifest", summary="The parts of the environment archive, with offsets")
def manifest(env_id: str, service: Service = Depends(get_service)) -> dict[str, Any]:
    """Where each part lies in the archive that `/artifact` serves, so a client can fetch single
    fragments with `Range: bytes=<offset>-<offset+size-1>`:

    `{"id", "sha256", "size", "parts": [{"kind": "manifest"|"fragment"|"end", "offset", "size",
    "package"?, "key"?}, ...]}`, in archive order, tiling it exactly. A fragment's `key`
    (``fragments-v1/<wheel sha256>/<layout>.tar.zst``) names its content: the same key is the
    same bytes in every environment. Each part is whole zstd frames (a fragment: one frame with a
    content checksum, of tar members without the end blocks). `parts` is null for an archive
    stored as one object (records of earlier versions): download it whole."""
    record, served = service.environments.artifact(env_id)
    return {"id": record.id, "sha256": record.sha256, "size": served.size,
            "parts": served.parts_json()}
