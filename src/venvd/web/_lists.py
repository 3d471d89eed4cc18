"""The list pages: environments (/), packages (/packages, /packages/{name}), advisory impact
(/advisories).

All plain GET forms over `service.impact` and `service.advisories` (their module docstrings are
the contract): a filter is a query parameter, so a filtered page is a link, and nothing here
needs JavaScript. Bad filters (a specifier that does not parse, an unknown status) answer 422
with the page naming them, as the service's `InvalidRequest` does.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from venvd.api.dependencies import get_service
from venvd.service import Service
from venvd.web._render import HtmlRoute, page
from venvd.web._session import Reader

__all__ = ["PAGE_SIZE", "router"]

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)

ServiceDep = Annotated[Service, Depends(get_service)]
Text = Annotated[str, Query(max_length=200)]
PageNumber = Annotated[int, Query(ge=1, le=100_000)]

PAGE_SIZE = 50
STATUSES = ("queued", "building", "ready", "failed")


def _pages(request: Request, total: int, number: int) -> dict[str, Any]:
    """Links to the previous and next page, keeping every other parameter."""
    params = {k: v for k, v in request.query_params.items() if k != "page" and v}
    last = max(1, -(-total // PAGE_SIZE))

    def link(n: int) -> str:
        return "?" + urlencode({**params, "page": n})

    return {"number": number, "last": last, "total": total,
            "previous": link(number - 1) if number > 1 else None,
            "next": link(number + 1) if number < last else None}


@router.get("/", response_class=HTMLResponse)
async def environments(
    request: Request, service: ServiceDep, user: Reader,
    q: Text = "", package: Text = "", specifier: Text = "", target: Text = "", status: Text = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    result = await run_in_threadpool(
        service.impact.list_environments, package=package.strip() or None,
        specifier=specifier.strip() or None, target=target.strip() or None,
        status=status or None, query=q.strip() or None, limit=PAGE_SIZE,
        offset=(page_number - 1) * PAGE_SIZE)
    return page(request, "environments.html", title="Environments", result=result,
                filters={"q": q, "package": package, "specifier": specifier, "target": target,
                         "status": status},
                statuses=STATUSES, pager=_pages(request, result["total"], page_number))


@router.get("/packages", response_class=HTMLResponse)
async def packages(request: Request, service: ServiceDep, user: Reader, q: Text = "") -> Response:
    result = await run_in_threadpool(service.impact.packages, q.strip(), 200)
    return page(request, "packages.html", title="Packages", q=q, items=result["items"])


@router.get("/packages/{name}", response_class=HTMLResponse)
async def package(
    name: str, request: Request, service: ServiceDep, user: Reader, specifier: Text = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    def read() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        held = service.impact.environments_with(name, specifier.strip(), limit=PAGE_SIZE,
                                                offset=(page_number - 1) * PAGE_SIZE)
        versions = service.impact.package(held["package"]) or {"versions": []}
        advisories = service.advisories.impact(package=held["package"], limit=PAGE_SIZE)
        return held, versions, advisories

    held, versions, advisories = await run_in_threadpool(read)
    if not versions["versions"]:
        from venvd.errors import NotFound

        raise NotFound(f"no environment holds a package named {name!r}", package=name)
    return page(request, "package.html", title=f"Package {held['package']}", name=held["package"],
                specifier=specifier, held=held, versions=versions["versions"],
                advisories=advisories, pager=_pages(request, held["total"], page_number))


@router.get("/advisories", response_class=HTMLResponse)
async def advisories(
    request: Request, service: ServiceDep, user: Reader, package: Text = "", advisory: Text = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    result = await run_in_threadpool(
        service.advisories.impact, package=package.strip() or None,
        advisory=advisory.strip() or None, limit=PAGE_SIZE, offset=(page_number - 1) * PAGE_SIZE)
    return page(request, "advisories.html", title="Advisory impact", result=result,
                package=package, advisory=advisory,
                pager=_pages(request, result["total"], page_number))
