"""`venvd serve`: run the HTTP API (uvicorn) on the configured store and indexes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from venvd.cli._options import build_settings, index_options

# Seconds a stopping server gives the requests in flight before cancelling them.
_SHUTDOWN_GRACE_SECONDS = 10


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--data-dir",
    envvar="VENVD_DATA_DIR",
    type=click.Path(path_type=Path),
    help="Data directory: SQLite store, caches, artifacts (env VENVD_DATA_DIR).",
)
@click.option(
    "--database-url",
    envvar="VENVD_DATABASE_URL",
    metavar="URL",
    help="postgresql+psycopg://... for a shared store (default: SQLite in the data dir).",
)
@index_options
@click.option("--no-build", is_flag=True, help="Never build wheels from sdists.")
@click.option("--build-workers", type=int, default=None, help="Concurrent environment builds.")
@click.option(
    "--unsafe-builds",
    is_flag=True,
    envvar="VENVD_UNSAFE_BUILDS",
    help="Build sdists without a sandbox when bubblewrap is missing (env VENVD_UNSAFE_BUILDS).",
)
@click.option("--log-level", default="info", show_default=True)
def serve(
    host: str,
    port: int,
    data_dir: Path | None,
    database_url: str | None,
    index_url: str | None,
    extra_index_url: tuple[str, ...],
    find_links: tuple[str, ...],
    no_build: bool,
    build_workers: int | None,
    unsafe_builds: bool,
    log_level: str,
) -> None:
    """Serve the venvd HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from venvd.api import create_app

    settings = build_settings(data_dir, database_url, index_url, extra_index_url, find_links)
    if no_build:
        settings.no_build = True
    if build_workers:
        settings.build_workers = build_workers
    if unsafe_builds:
        settings.unsafe_builds = True
    builds = (f"builds: queue {settings.queue_name!r}" if settings.queue_url
              else f"builds: {settings.build_workers} in-process")
    click.echo(
        f"venvd: serving on http://{host}:{port} (data: {settings.data_dir}, "
        f"store: {settings.resolved_database_url.split('://')[0]}, {builds})",
        err=True,
    )
    app = create_app(settings=settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        # Requests still in flight when the server stops get this long before being cancelled.
        timeout_graceful_shutdown=_SHUTDOWN_GRACE_SECONDS,
    )

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # Tell the app first: its open progress streams end at once (clients reconnect to
            # another server) instead of holding this one for their lifetime.
            app.state.stopping = True
            super().handle_exit(sig, frame)

    Server(config).run()
