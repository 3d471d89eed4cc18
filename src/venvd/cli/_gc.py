"""`venvd gc`: collect the caches (artifacts, fragments, wheels, built wheels), least recently used first.

An operator's command: it runs against the store and object store of the settings (the same
VENVD_* variables as `serve`), so it can run on any node, and it keeps what any node's running builds
and in-flight downloads lease. With `--server URL` (and an admin token) the server runs the pass
instead (`POST /v1/gc`), for an operator who has no access to the store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from venvd.errors import InputError


@click.command()
@click.option("--max-size", metavar="SIZE",
              help="Remove least recently used objects until the cache holds at most SIZE "
                   "(20GB, 512MiB, bytes); default: the cache_max_size setting.")
@click.option("--older-than", metavar="AGE",
              help="Remove objects not used for AGE (30d, 12h, 90m, seconds).")
@click.option("--min-age", metavar="AGE", default=None,
              help="Never remove objects used more recently than AGE (default: the gc_min_age setting).")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--data-dir", envvar="VENVD_DATA_DIR", type=click.Path(path_type=Path),
              help="Data directory (env VENVD_DATA_DIR).")
@click.option("--database-url", envvar="VENVD_DATABASE_URL", metavar="URL",
              help="The store (default: SQLite in the data dir).")
@click.option("--server", metavar="URL",
              help="Ask this venvd server to run the pass (POST /v1/gc; an admin token in "
                   "--token or VENVD_TOKEN) instead of running it on the settings' store.")
@click.option("--token", envvar="VENVD_TOKEN", metavar="TOKEN", default="",
              help="Bearer token for --server (env VENVD_TOKEN).")
def gc(max_size: str | None, older_than: str | None, min_age: str | None, dry_run: bool,
       as_json: bool, data_dir: Path | None, database_url: str | None, server: str | None,
       token: str) -> None:
    """Collect cached objects under a size budget and/or an age; environment records stay (a
    collected environment is rebuilt, identical, when asked for again)."""
    if server:
        from venvd.client._http import HttpClient

        client = HttpClient(server, token=token)
        try:
            docs = client.gc({"max_size": max_size, "older_than": older_than,
                              "min_age": min_age, "dry_run": dry_run})
        finally:
            client.close()
        _print(docs, as_json)
        return
    from venvd.cli._options import build_settings, check_fleet_extras
    from venvd.objects import open_object_store
    from venvd.service._gc import GcLimitError, gc_limits, run_gc
    from venvd.store import Store

    settings = build_settings(data_dir, database_url, None, (), ())
    check_fleet_extras(settings)
    try:
        size, age, grace = gc_limits(settings, max_size, older_than, min_age)
    except GcLimitError as exc:
        raise InputError(exc.reason or "give --max-size and/or --older-than (or set "
                         "VENVD_CACHE_MAX_SIZE)") from None
    cache_dir = settings.data_dir.resolve() / "cache"
    try:
        objects = open_object_store(settings.object_store, cache_dir,
                                    endpoint_url=settings.s3_endpoint_url)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    store = Store.open(settings.resolved_database_url)
    try:
        reports = run_gc(store, objects, cache_dir, max_size=size, older_than=age, min_age=grace,
                         dry_run=dry_run)
    finally:
        store.close()
    _print([r.to_json() for r in reports], as_json)


def _print(docs: list[dict[str, Any]], as_json: bool) -> None:
    """The reports (`GcReport.to_json()` documents, local or from the server)."""
    if as_json:
        click.echo(json.dumps(docs, indent=2))
        return
    for doc in docs:
        verb = "would remove" if doc["dry_run"] else "removed"
        click.echo(f"venvd gc ({doc['store']}): {verb} {doc['removed']} objects, "
                   f"{_human(doc['freed'])}; {_human(doc['total_before'])} → "
                   f"{_human(doc['total_after'])}; {doc['kept_in_use']} kept in use", err=True)


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"
