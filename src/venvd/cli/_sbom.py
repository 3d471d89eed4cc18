"""`venvd sbom ID -o FILE`: the CycloneDX 1.6 SBOM of a built environment."""

from __future__ import annotations

from pathlib import Path

import click

from venvd.cli._options import connect_client, server_options
from venvd.errors import InputError


@click.command()
@click.argument("env_id")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write the SBOM to FILE (default: standard output).")
@server_options
def sbom(env_id: str, output: Path | None, server: str | None, data_dir: Path | None,
         database_url: str | None) -> None:
    """Write the CycloneDX 1.6 JSON SBOM of environment ENV_ID (it must be built: exit 1 while
    it is queued, building or failed)."""
    client = connect_client(server, data_dir, database_url, None, (), ())
    try:
        text = client.sbom(env_id)
    finally:
        client.close()
    if output is None:
        click.echo(text)
        return
    part = output.with_name(output.name + ".part")
    try:
        part.write_text(text + "\n")
        part.replace(output)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise InputError(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"venvd: wrote the SBOM of environment {env_id[:12]} to {output}", err=True)


COMMANDS: list[click.Command] = [sbom]
