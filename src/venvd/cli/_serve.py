"""`venvd serve`: run the HTTP API (uvicorn) on the configured store and indexes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from venvd.cli._options import (
    apply_build_flags,
    apply_queue_options,
    build_flags,
    build_settings,
    check_fleet_extras,
    index_options,
    queue_options,
)
from venvd.errors import AccessDenied, InputError

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
@queue_options
@index_options
@build_flags
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    envvar="VENVD_LOG_FORMAT",
    default=None,
    help="One line per request and per event, as text or one JSON object (env VENVD_LOG_FORMAT).",
)
@click.option(
    "--auth",
    type=click.Choice(["auto", "required", "off"]),
    envvar="VENVD_AUTH",
    default=None,
    help="Bearer tokens: auto (default) = required when --host is not loopback (env VENVD_AUTH).",
)
@click.option(
    "--allow-direct-url",
    "direct_url_prefixes",
    multiple=True,
    metavar="PREFIX",
    help="Fetch direct references (name @ URL#sha256=...) whose URL starts with PREFIX "
         "(repeatable; https unless PREFIX says http; env VENVD_DIRECT_URL_PREFIXES as a JSON "
         "list). Default: none, every direct reference refused.",
)
@click.option(
    "--private-index",
    "private_indexes",
    multiple=True,
    metavar="NAME[:PROJECT,...]",
    help="Serve a private index NAME (uploads at /NAME/, pages at /NAME/simple/), first in "
         "resolution; the PROJECTs named may shadow upstream ones (repeatable; env "
         "VENVD_PRIVATE_INDEXES as JSON, e.g. '{\"team\": [\"requests\"]}').",
)
@click.option(
    "--no-auth",
    is_flag=True,
    help="Serve without tokens even on a non-loopback address (anyone reaching the port may build).",
)
def serve(
    host: str,
    port: int,
    data_dir: Path | None,
    database_url: str | None,
    queue_url: str | None,
    queue_name: str | None,
    index_url: str | None,
    extra_index_url: tuple[str, ...],
    find_links: tuple[str, ...],
    no_build: bool,
    build_workers: int | None,
    unsafe_builds: bool,
    log_level: str,
    log_format: str | None,
    auth: str | None,
    direct_url_prefixes: tuple[str, ...],
    private_indexes: tuple[str, ...],
    no_auth: bool,
) -> None:
    """Serve the venvd HTTP API (OpenAPI docs at /docs).

    On a loopback address no token is needed; on any other, requests need a bearer token
    (`venvd token create`), and the server refuses to start while the store has none, unless
    --no-auth."""
    import uvicorn

    from venvd.api import create_app
    from venvd.api._auth import auth_required
    from venvd.api._logging import configure_logging

    settings = build_settings(data_dir, database_url, index_url, extra_index_url, find_links)
    apply_queue_options(settings, queue_url, queue_name)
    if log_format:
        settings.log_format = log_format
    if auth:
        settings.auth = auth
    if no_auth:
        settings.auth = "off"
    if direct_url_prefixes:
        from venvd.inputs import DirectURLPolicy

        try:
            settings.direct_url_prefixes = list(DirectURLPolicy.of(direct_url_prefixes).prefixes)
        except ValueError as exc:
            raise InputError(f"--allow-direct-url: {exc}") from None
    if private_indexes:
        settings.private_indexes = _private_indexes(private_indexes)
    check_fleet_extras(settings)
    configure_logging(settings.log_format, log_level)
    _check_auth(settings, host)
    apply_build_flags(settings, no_build, build_workers, unsafe_builds)
    builds = (f"queue {settings.queue_name!r}" if settings.queue_url
              else f"{settings.build_workers} in-process")
    logging.getLogger("venvd.serve").info(
        "serving on http://%s:%s (data: %s, store: %s, tokens: %s, builds: %s)", host, port,
        settings.data_dir, settings.resolved_database_url.split("://")[0],
        "required" if auth_required(settings.auth, host) else "off", builds)
    app = create_app(settings=settings, host=host, freeze_gc=True)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,  # configure_logging above
        access_log=False,  # venvd writes its own line per request, with the request id
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


def _private_indexes(options: tuple[str, ...]) -> dict[str, list[str]]:
    """`--private-index NAME[:PROJECT,...]` options as the private_indexes setting; InputError
    (one line, exit 2) for a name the server cannot serve or a project name that is not one."""
    from packaging.utils import InvalidName, canonicalize_name

    from venvd.service.settings import check_private_index_name

    indexes: dict[str, list[str]] = {}
    for option in options:
        name, _, projects = option.partition(":")
        try:
            check_private_index_name(name)
            shadow = [canonicalize_name(p.strip(), validate=True)
                      for p in projects.split(",") if p.strip()]
        except (ValueError, InvalidName) as exc:
            raise InputError(f"--private-index {option}: {exc}") from None
        indexes.setdefault(name, []).extend(shadow)
    return {name: sorted(set(shadow)) for name, shadow in indexes.items()}


def _check_auth(settings: Any, host: str) -> None:
    """Refuse to serve with tokens enforced while the store has none: nobody could use it, and
    on a public address the operator more likely forgot to create one than meant that."""
    from venvd.api._auth import auth_required, is_loopback
    from venvd.store import Store, Tokens

    if not auth_required(settings.auth, host):
        if not is_loopback(host):
            logging.getLogger("venvd.serve").warning(
                "serving on %s without tokens (--no-auth): anyone who reaches the port can build",
                host)
        return
    store = Store.open(settings.resolved_database_url)
    try:
        has_token = Tokens(store).any_active()
    finally:
        store.close()
    if not has_token:
        where = "a non-loopback address" if not is_loopback(host) else "this address"
        raise AccessDenied(
            f"refusing to serve on {host}: tokens are required on {where} and the store has none; "
            "create one with 'venvd token create --scope build --name NAME' (same --data-dir / "
            "--database-url), or pass --no-auth to serve without tokens")
