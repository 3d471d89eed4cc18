"""`venvd query 'urllib3<2.0.7'` and `venvd why ID urllib3`: which environments hold a version
range of a package, and through which dependency chains an environment holds it. In-process on
the embedded default, through the server's API with --server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from venvd.cli._options import connect_client, server_options

__all__ = ["COMMANDS", "query", "why"]

_MAX_PAGE = 500


def environment_row(env: dict[str, Any], version: str | None = None) -> str:
    """One table line of an environment: id (12 characters), version held, status, target,
    roots."""
    held = version if version is not None else env.get("version", "")
    return (f"{env['id'][:12]:<12}  {held or '':<12} {env['status']:<8} "
            f"{env['target']['label']:<32} {' '.join(env['roots'])}")


@click.command()
@click.argument("requirement")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@click.option("--limit", type=click.IntRange(1, _MAX_PAGE), default=100, show_default=True,
              help="Environments shown at most (newest first).")
@server_options
def query(requirement: str, as_json: bool, limit: int, server: str | None,
          data_dir: Path | None, database_url: str | None) -> None:
    """Environments holding a version of a package: REQUIREMENT is NAME[SPECIFIER], e.g.
    'urllib3<2.0.7' (pre-releases held count when in range). Exit 0 whether or not any does."""
    from venvd.service._impact import parse_query

    name, specifier = parse_query(requirement)
    client = connect_client(server, data_dir, database_url, None, (), ())
    try:
        answer = client.environments_with(name, str(specifier), limit=limit)
    finally:
        client.close()
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    wanted = f"{name}{specifier}"
    if not answer["items"]:
        click.echo(f"no environment holds {wanted}")
        return
    click.echo(f"{'ENVIRONMENT':<12}  {'VERSION':<12} {'STATUS':<8} {'TARGET':<32} ROOTS")
    for env in answer["items"]:
        click.echo(environment_row(env))
    shown, total = len(answer["items"]), answer["total"]
    more = f" (the newest {shown} shown; --limit for more)" if total > shown else ""
    click.echo(f"{total} environment{'s' if total != 1 else ''} hold {wanted}{more}", err=True)


@click.command()
@click.argument("env_id")
@click.argument("package")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@server_options
def why(env_id: str, package: str, as_json: bool, server: str | None, data_dir: Path | None,
        database_url: str | None) -> None:
    """Why environment ENV_ID holds PACKAGE: the shortest dependency chains from each of its
    roots, drawn `root -> a -> package`. Exit 1 when the environment is unknown or does not hold
    the package."""
    client = connect_client(server, data_dir, database_url, None, (), ())
    try:
        answer = client.why(env_id, package)
    finally:
        client.close()
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    click.echo(f"{answer['package']} {answer['version']} in {answer['environment'][:12]}:")
    for path in answer["paths"]:
        click.echo("  " + " -> ".join(path))
    if not answer["paths"]:
        click.echo("  (no chain from a root: its metadata is not in this store)")


COMMANDS: list[click.Command] = [query, why]
