"""POST /v1/resolve: requirements + target → lock (JSON, requirements.txt or pylock.toml)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from venvd.api.dependencies import get_service
from venvd.api.schemas import ERROR_RESPONSES, Format, ResolveBody
from venvd.formats import render, render_universal
from venvd.service import Service
from venvd.service._bodies import restrict_result

router = APIRouter(prefix="/v1", tags=["resolve"])

_ACCEPT_FORMATS = {
    "text/x-requirements": "requirements",
    "text/plain": "requirements",
    "application/vnd.pylock+toml": "pylock",
    "application/toml": "pylock",
}


def _format_from_accept(accept: str | None) -> str | None:
    for part in (accept or "").split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in _ACCEPT_FORMATS:
            return _ACCEPT_FORMATS[media]
    return None


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The lock (JSON), or requirements.txt / pylock.toml text",
        "content": {"text/x-requirements": {}, "application/vnd.pylock+toml": {}},
    },
    **{status: ERROR_RESPONSES[status] for status in (400, 404, 409, 413, 422, 500, 502, 503, 504)},
}


@router.post("/resolve", summary="Resolve requirements for a target platform", responses=_RESPONSES)
async def resolve(
    body: ResolveBody,
    service: Service = Depends(get_service),
    format: Format | None = Query(None, description="json, requirements or pylock"),
    accept: str | None = Header(None),
    cache_control: str | None = Header(None),
) -> Response:
    """Resolve to exact pins with hashes for `target`; answered from the cache when fresh.
    With `targets` (several), one universal lock valid on each: every target resolved alone, the
    pins merged with markers (JSON: the union of packages, each with its targets and marker, and
    each target's own lock id); 422 for an empty list, more than `max_targets`, duplicates, or
    targets no marker tells apart that resolve differently.

    Errors: 422 bad requirement/target text or a bound passed (`details.limit` names the
    setting), 413 body too large, 404 project on no index, 409 no resolution (with the
    explanation in `details.causes`), 503 the resolution passed its time budget, 502/504 upstream
    index failures. Send `Cache-Control: no-cache` to bypass the resolution cache.
    """
    # `Cache-Control: no-cache` asks for a fresh resolution (metadata caches still apply).
    refresh = "no-cache" in (cache_control or "").lower()
    fmt = format or body.format or _format_from_accept(accept) or "json"
    if body.targets is not None:  # one universal lock: a resolution per target, then a merge
        universal = await run_in_threadpool(service.resolve_universal, body, refresh=refresh)
        headers = {"X-Venvd-Cached": "1" if universal.cached else "0",
                   "X-Venvd-Lock-Id": universal.lock.id, **body.document_headers()}
        if fmt == "json":
            return Response(universal.json_bytes(), media_type="application/json", headers=headers)
        text, media_type = render_universal(universal.lock, fmt)
        return Response(text, media_type=media_type, headers=headers)
    # Validation and the request key are CPU only (targets memoized, bounded): on the event loop.
    request = service.request_for(body)
    # A cache hit held in memory is answered here; anything that may wait (the store, the index,
    # a resolution) runs in a worker thread, never on the event loop.
    result = None if refresh else service.remembered(request)
    if result is None:
        result = await run_in_threadpool(service.resolve, request, refresh=refresh)
    result = restrict_result(body, result)  # a document's --hash pins
    headers = {
        "X-Venvd-Cached": "1" if result.cached else "0",
        "X-Venvd-Resolution-Key": result.key,
        "X-Venvd-Lock-Id": result.lock.id,
    }
    if body.document is not None:
        headers.update(body.document_headers())
    if fmt == "json":  # the lock's JSON is encoded once per lock (Lock.json_members)
        return Response(result.json_bytes(), media_type="application/json", headers=headers)
    text, media_type = render(result.lock, fmt)
    return Response(text, media_type=media_type, headers=headers)
