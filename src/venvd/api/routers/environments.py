"""Environments: create (resolve + build in one round trip), status, progress events, artifact."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Body, Depends, Header
from fastapi.responses import JSONResponse, Response, StreamingResponse

from venvd.api.dependencies import get_service
from venvd.errors import InputError
from venvd.service import Service

router = APIRouter(prefix="/v1/environments", tags=["environments"])

_EXAMPLE = {
    "requirements": ["django>=1.8", "requests>=2.7"],
    "target": {"python": "3.11", "platform": "manylinux_2_28_x86_64"},
}


@router.post("", summary="Resolve (if given requirements) and build an environment")
def create(
    body: dict[str, Any] = Body(..., examples=[_EXAMPLE]), service: Service = Depends(get_service)
) -> JSONResponse:
    """Body: `{"requirements": [...], "constraints": [...], "options": {...}, "target": ...}` or
    `{"lock": <JSON lock>, "target": ...}`. 200 with the ready environment, or 202 while it builds.
    The id is the environment key: the same input always gives the same id."""
    if "requirements" not in body and "lock" not in body:
        raise InputError("give either 'requirements' or 'lock'", field="body")
    doc = service.environments.create_from_json(body)
    return JSONResponse(doc, status_code=200 if doc["status"] == "ready" else 202)


@router.get("/{env_id}", summary="Status, progress, timings and manifest of an environment")
def status(env_id: str, service: Service = Depends(get_service)) -> dict[str, Any]:
    result: dict[str, Any] = service.environments.status(env_id)
    return result


@router.get("/{env_id}/events", summary="Server-sent events of build progress")
async def events(env_id: str, service: Service = Depends(get_service)) -> StreamingResponse:
    environments = service.environments
    await asyncio.to_thread(environments.status, env_id)  # 404 before the stream starts

    async def stream() -> AsyncIterator[bytes]:
        # The service's own event loop (it polls the store, so any process can report any build);
        # each blocking step runs in a worker thread, never on the event loop.
        events = environments.events(env_id)
        while (event := await asyncio.to_thread(next, events, None)) is not None:
            yield f"event: {event['status']}\ndata: {json.dumps(event)}\n\n".encode()

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


@router.get("/{env_id}/artifact", summary="The environment archive (tar + zstd), resumable")
def artifact(
    env_id: str,
    service: Service = Depends(get_service),
    range_header: str | None = Header(None, alias="Range"),
) -> Response:
    path = service.environments.artifact_path(env_id)
    record = service.store.get_environment(env_id)
    assert record is not None  # artifact_path() raised NotFound otherwise
    size = path.stat().st_size
    headers = {
        "Accept-Ranges": "bytes",
        "X-Venvd-Sha256": record.sha256 or "",
        "X-Venvd-Size": str(size),
        "ETag": f'"{record.sha256}"',
        "Cache-Control": "public, max-age=31536000, immutable",
        "Content-Disposition": f'attachment; filename="{env_id}.tar.zst"',
    }
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

    def chunks() -> Any:
        with open(path, "rb") as fh:
            fh.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                block = fh.read(min(1 << 20, remaining))
                if not block:
                    return
                remaining -= len(block)
                yield block

    return StreamingResponse(
        chunks(), status_code=status, headers=headers, media_type="application/zstd"
    )
