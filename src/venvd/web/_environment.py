"""One environment's pages: its page, its graph, its downloads, its live progress.

The downloads and the event stream are the API's own handlers and format writers
(`api.routers.environments`, `api.routers.sbom`, `venvd.formats`) behind the page's auth (a cookie
cannot authenticate an API route, which takes bearer tokens only).
"""

from __future__ import annotations

import json
import shlex
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from venvd.api.dependencies import get_service
from venvd.errors import NotReady
from venvd.service import Service
from venvd.web._render import HtmlRoute, page
from venvd.web._session import Reader

__all__ = ["router"]

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)

ServiceDep = Annotated[Service, Depends(get_service)]

_UNFINISHED = ("queued", "building")


@router.get("/environments/{env_id}", response_class=HTMLResponse)
async def environment(env_id: str, request: Request, service: ServiceDep, user: Reader) -> Response:
    doc = await run_in_threadpool(service.environments.status, env_id)
    lock = doc.get("lock") or {}
    target = lock.get("target") or {}
    from venvd.formats import target_summary

    marker_env = target.get("marker_environment") or {}
    python = ".".join(str(marker_env.get("python_version", "")).split(".")[:2])
    requirements = list(lock.get("requirements") or [])
    base = str(request.base_url).rstrip("/")
    command = " ".join(["venvd", "create", "./venv", "--server", shlex.quote(base),
                        *(["--python", f"python{python}"] if python else []),
                        *(shlex.quote(r) for r in requirements)])
    manifest = doc.get("manifest") or {}
    return page(
        request, "environment.html",
        title=f"Environment {env_id[:12]}",
        env=doc,
        target_label=target_summary(target) if target else "—",
        marker_environment=marker_env,
        best_tags=list(target.get("compatible_tags") or [])[:5],
        requirements=requirements,
        packages=lock.get("packages") or [],
        manifest=[(k, _shown(v)) for k, v in sorted(manifest.items())],
        timings=sorted(((doc.get("timings") or {}).items()), key=lambda kv: kv[0] == "total"),
        live=doc["status"] in _UNFINISHED,
        command=command,
    )


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        text = json.dumps(value, sort_keys=True)
        return text if len(text) <= 300 else text[:300] + " …"
    return str(value)


@router.get("/environments/{env_id}/events")
async def events(env_id: str, request: Request, service: ServiceDep, user: Reader) -> StreamingResponse:
    """The API's progress stream (`GET /v1/environments/{id}/events`) behind the page's auth."""
    from venvd.api.routers.environments import events as api_events

    return await api_events(env_id, request, service)


@router.get("/environments/{env_id}/archive")
def archive(env_id: str, service: ServiceDep, user: Reader,
            range_header: Annotated[str | None, Header(alias="Range")] = None) -> Response:
    from venvd.api.routers.environments import artifact

    return artifact(env_id, service, range_header)


@router.get("/environments/{env_id}/requirements.txt")
def requirements_txt(env_id: str, service: ServiceDep, user: Reader) -> Response:
    return _lock_as(service, env_id, "requirements", "requirements.txt")


@router.get("/environments/{env_id}/pylock.toml")
def pylock_toml(env_id: str, service: ServiceDep, user: Reader) -> Response:
    return _lock_as(service, env_id, "pylock", "pylock.toml")


@router.get("/environments/{env_id}/sbom.json")
def sbom(env_id: str, service: ServiceDep, user: Reader) -> Response:
    from venvd.outputs import SBOM_MEDIA_TYPE, environment_sbom

    return Response(environment_sbom(service, env_id), media_type=SBOM_MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{env_id}.cdx.json"'})


def _lock_as(service: Service, env_id: str, fmt: str, filename: str) -> Response:
    from venvd.formats import render
    from venvd.lock import Lock

    doc = service.environments.status(env_id)
    if doc.get("lock") is None:
        raise NotReady(f"environment {env_id!r} has no lock yet", status=doc["status"])
    text, media_type = render(Lock.from_json(doc["lock"]), fmt)
    return Response(text, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/environments/{env_id}/graph", response_class=HTMLResponse)
def graph(env_id: str, request: Request, service: ServiceDep, user: Reader,
          highlight: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    from venvd.web._graph import layout

    data = service.impact.graph(env_id)
    paths: list[list[str]] = []
    if highlight:
        paths = [list(p) for p in service.impact.why(env_id, highlight)["paths"]]
    picture = layout(((n["name"], n["version"], n["is_root"]) for n in data["nodes"]),
                     ((e["parent"], e["child"]) for e in data["edges"]), paths)
    return page(request, "graph.html", title=f"Graph of {env_id[:12]}", env_id=env_id,
                graph=picture, highlight=highlight or "", paths=paths,
                names=sorted(n["name"] for n in data["nodes"]))


@router.get("/environments/{env_id}/why/{name}")
def why(env_id: str, name: str, service: ServiceDep, user: Reader) -> JSONResponse:
    """The `why` answer for the graph page's script (JSON; errors are pages like every route here,
    which the script reports by their status)."""
    return JSONResponse(service.impact.why(env_id, name))
