"""Entry point and error handling: every VenvdError becomes one readable line and its exit code."""

from __future__ import annotations

import sys
from typing import Any

import click

from venvd import __version__
from venvd.errors import ResolutionImpossible, VenvdError

__all__ = ["cli", "main"]


def report_error(exc: VenvdError) -> None:
    click.echo(f"venvd: error: {exc.message}", err=True)
    if isinstance(exc, ResolutionImpossible):
        for cause in exc.causes or ():
            click.echo(f"  - {cause}", err=True)
    log_tail = exc.details.get("log_tail")
    if log_tail:
        click.echo("  build log (tail):", err=True)
        for line in str(log_tail).splitlines()[-20:]:
            click.echo(f"    {line}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="venvd")
def cli() -> None:
    """venvd: resolve Python requirements for any target platform and build ready environments."""


def _register() -> None:
    from venvd.cli import _cache, _env, _export, _gc, _resolve, _sbom, _serve, _token, _worker

    cli.add_command(_serve.serve)
    cli.add_command(_token.token)
    cli.add_command(_worker.worker)
    cli.add_command(_resolve.resolve)
    cli.add_command(_gc.gc)
    cli.add_command(_cache.cache)
    for command in [*_env.COMMANDS, *_export.COMMANDS, *_sbom.COMMANDS]:
        cli.add_command(command)


def main(argv: list[str] | None = None) -> Any:
    _register()
    try:
        return cli.main(args=argv, prog_name="venvd", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("venvd: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"venvd: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code if exc.exit_code != 1 else 2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except VenvdError as exc:
        report_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("venvd: interrupted", err=True)
        sys.exit(130)
