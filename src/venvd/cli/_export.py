"""`venvd export ID -o FILE` (the archive as is) and `venvd export ID --oci DIR` (an OCI image)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from venvd.cli._options import connect_client, server_options
from venvd.errors import InputError


@click.command()
@click.argument("env_id")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write the archive (tar + zstd) to FILE.")
@click.option("--oci", "oci_dir", type=click.Path(path_type=Path), metavar="DIR",
              help="Write an OCI image layout to DIR (new or empty) instead.")
@click.option("--base", metavar="LAYOUT_DIR[:TAG]",
              help="(--oci) Base image: a local OCI image layout, and which of its images (a tag; "
                   "may be left out when it holds one image).")
@click.option("--tag", default="latest", show_default=True, help="(--oci) The image's tag in DIR.")
@click.option("--path", "venv_path", default="/opt/venv", show_default=True,
              help="(--oci) Where the environment lives in the image.")
@click.option("--python-path", metavar="PATH",
              help="(--oci) The base image's interpreter, which the venv's python links to "
                   "(default: found in the base image's layers as /usr/local/bin/pythonX.Y, "
                   "/usr/bin/pythonX.Y, ...; /usr/bin/python3 without a base).")
@click.option("--compression", type=click.Choice(["gzip", "none"]), default="gzip",
              show_default=True, help="(--oci) The environment layer's compression.")
@click.option("--materialize-python", metavar="PYTHON", default=sys.executable,
              show_default="this interpreter",
              help="(--oci) A local interpreter matching the environment's target, to lay out the "
                   "venv with (as `venvd create` does).")
@server_options
def export(env_id: str, output: Path | None, oci_dir: Path | None, base: str | None, tag: str,
           venv_path: str, python_path: str | None, compression: str, materialize_python: str,
           server: str | None, data_dir: Path | None, database_url: str | None) -> None:
    """Download the archive of environment ENV_ID as is (-o), or write it as an OCI image
    (--oci): the environment at --path in the image's last layer, on top of --base."""
    from venvd.cli._env import download, follow_build

    if (output is None) == (oci_dir is None):
        raise InputError("give exactly one of -o FILE (the archive) and --oci DIR (an OCI image)")
    if oci_dir is None:
        for name, value in (("--base", base), ("--python-path", python_path)):
            if value is not None:
                raise InputError(f"{name} goes with --oci")
    oci = None
    if oci_dir is not None:
        from venvd.outputs._oci import OciOptions

        # Checked before anything is downloaded.
        oci = OciOptions.checked(oci_dir, base=base, tag=tag, venv_path=venv_path,
                                 python_path=python_path, compression=compression)
    client = connect_client(server, data_dir, database_url, None, (), ())
    try:
        doc = client.environment(env_id)
        if doc["status"] != "ready":
            doc = follow_build(client, doc)
        if oci is None:
            assert output is not None
            info = download(client, env_id, output)
            click.echo(f"venvd: wrote {output} ({info['size']} bytes, sha256 {info['sha256']})",
                       err=True)
            return
        import tempfile

        from venvd.outputs._oci import export_oci

        with tempfile.TemporaryDirectory(prefix="venvd-export-") as tmp:
            archive = Path(tmp) / "environment.tar.zst"
            download(client, env_id, archive)
            result = export_oci(archive, oci, python=materialize_python)
    finally:
        client.close()
    click.echo(f"venvd: wrote image {oci.dest}:{oci.tag} (manifest {result.manifest_digest}, "
               f"environment layer {result.layer_digest}, {result.layer_size} bytes)", err=True)


COMMANDS: list[click.Command] = [export]
