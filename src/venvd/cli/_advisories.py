"""`venvd advisories import FILE_OR_DIR` and `venvd advisories impact`: OSV advisories (read
offline, from files) and the environments they affect."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from venvd.cli._options import build_settings, connect_client, server_options

__all__ = ["COMMANDS", "advisories"]


@click.group()
def advisories() -> None:
    """Security advisories (OSV JSON/YAML, as the PyPA advisory database publishes them)."""


@advisories.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@server_options
def import_(path: Path, server: str | None, data_dir: Path | None,
            database_url: str | None) -> None:
    """Import the OSV documents of PATH: a file, or a directory tree of *.json, *.yaml and
    *.yml files. All are checked before any is stored (exit 2 naming the file and field), then
    stored in one transaction; an id is replaced only by a newer `modified`. With --server, sent
    to the server in one request (an admin token)."""
    from venvd.service._advisories import iter_documents, read_documents
    from venvd.service._osv import parse_advisory

    max_bytes = build_settings(data_dir, database_url, None, (), ()).max_advisory_file_bytes
    documents: Iterable[tuple[str, Any]]
    if server:
        documents = read_documents(path, max_bytes)  # one request body
        for source, doc in documents:  # errors name the file here, not `body[3]` on a server
            parse_advisory(doc, source)
    else:
        documents = iter_documents(path, max_bytes)  # streamed into one transaction
    client = connect_client(server, data_dir, database_url, None, (), ())
    try:
        result = client.import_advisories(documents)
    finally:
        client.close()
    imported = len(result["imported"])
    click.echo(f"venvd: {imported} {'advisory' if imported == 1 else 'advisories'} imported, "
               f"{len(result['unchanged'])} unchanged, {len(result['skipped'])} skipped "
               "(withdrawn, or no PyPI package)")


@advisories.command()
@click.option("--package", help="Only this package.")
@click.option("--advisory", help="Only this advisory (id or alias).")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=1000, show_default=True,
              help="Rows shown at most.")
@server_options
def impact(package: str | None, advisory: str | None, as_json: bool, limit: int,
           server: str | None, data_dir: Path | None, database_url: str | None) -> None:
    """The environments holding a version an imported advisory affects, with the lowest fixed
    version above the one held. Exit 0 whether or not any is affected."""
    client = connect_client(server, data_dir, database_url, None, (), ())
    try:
        answer = client.advisory_impact(package, advisory, limit=limit)
    finally:
        client.close()
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    if not answer["items"]:
        click.echo("no environment holds an affected version")
        return
    click.echo(f"{'ADVISORY':<22} {'PACKAGE':<20} {'HELD':<10} {'FIXED':<10} "
               f"{'ENVIRONMENT':<12}  {'STATUS':<8} ROOTS")
    for row in answer["items"]:
        env = row["environment"]
        click.echo(f"{row['advisory']:<22} {row['package']:<20} {row['version']:<10} "
                   f"{row['fixed'] or '-':<10} {env['id'][:12]:<12}  {env['status']:<8} "
                   f"{' '.join(env['roots'])}")
    shown, total = len(answer["items"]), answer["total"]
    if total > shown:
        click.echo(f"(the first {shown} of {total} shown; --limit for more)", err=True)


COMMANDS: list[click.Command] = [advisories]
