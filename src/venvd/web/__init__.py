"""The web UI: server-side HTML pages over the service, on the API's own app.

    /                                  environments: search, filters, paging (`_lists`)
    /environments/{id}                 one environment: target, lock, manifest, timings, live
                                       progress, the `venvd create` command, downloads (`_environment`)
    /environments/{id}/graph           its dependency graph as SVG (`_graph` lays it out)
    /packages, /packages/{name}        package search; which environments hold a version (`_lists`)
    /advisories                        environments affected by imported advisories (`_lists`)
    /request                           the form that requests an environment (`_forms`)
    /login, /logout                    the token cookie, when the server enforces tokens (`_session`)
    /static/...                        one stylesheet, one small script (no CDN, no build step)

Pages are Jinja2 templates (`templates/`, autoescaped); every list works without JavaScript. The
app imports this package only when it is built (`api.app.create_app`), never the client.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

__all__ = ["STATIC_DIR", "install"]

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the pages and the static files to `app` (none of them in its OpenAPI document)."""
    from starlette.staticfiles import StaticFiles

    from venvd.web import _environment, _forms, _lists

    app.include_router(_lists.router)
    app.include_router(_environment.router)
    app.include_router(_forms.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
