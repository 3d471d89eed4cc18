"""`venvd upload DIST...`: wheels and sdists into a private index of a server, or of the
in-process service (its `private_indexes` setting, VENVD_PRIVATE_INDEXES)."""

from __future__ import annotations

from pathlib import Path

import click

from venvd.cli._options import connect_client, server_options

__all__ = ["upload"]


@click.command()
@click.argument("dists", nargs=-1, required=True, metavar="DIST...",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--index", "index", metavar="NAME",
              help="The private index (needed with --server; in-process, default: the only one "
              "configured).")
@server_options
def upload(dists: tuple[Path, ...], index: str | None, server: str | None,
           data_dir: Path | None, database_url: str | None) -> None:
    """Upload wheels and sdists (.tar.gz) to a private index, in order; stops at the first one
    refused (exit 2: not a valid distribution; exit 1: the file exists, or the project exists
    upstream and the index may not shadow it). With --server the token needs the build scope."""
    client = connect_client(server, data_dir, database_url, None, (), ())
    try:
        for dist in dists:
            doc = client.upload(index, dist)
            file = doc["file"]
            click.echo(f"venvd: uploaded {file['filename']} to {file['index']} "
                       f"(sha256 {file['sha256']})", err=True)
    finally:
        client.close()


COMMANDS: list[click.Command] = [upload]
