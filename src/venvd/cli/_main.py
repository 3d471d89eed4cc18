"""Entry point and error handling: every VenvdError becomes one readable line and its exit code."""

from __future__ import annotations

import sys
from typing import Any

import click

from venvd import __version__
from venvd.cli._report import report_error
from venvd.errors import VenvdError

__all__ = ["cli", "main"]


# The module defining each command, so that running one imports only its module: `_env` alone
# (rich, the interpreter probe, ...) was a tenth of a `venvd resolve --server` command's time.
_COMMAND_MODULES = {
    "resolve": "_resolve",
    "serve": "_serve",
    "token": "_token",
    "worker": "_worker",
    "gc": "_gc",
    "create": "_env",
    "export": "_export",
    "sbom": "_sbom",
    "cache": "_cache",
    "query": "_query",
    "why": "_query",
    "advisories": "_advisories",
    "upload": "_upload",
}


class _LazyGroup(click.Group):
    """A group that imports a command's module when that command runs (click's lazy-loading
    pattern). A name it does not know, and listings (`--help`), load every module."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            module = _COMMAND_MODULES.get(cmd_name)
            if module is not None:
                _register(module)
            command = super().get_command(ctx, cmd_name)
        if command is None:
            _register(*sorted(set(_COMMAND_MODULES.values())))
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        _register(*sorted(set(_COMMAND_MODULES.values())))
        return super().list_commands(ctx)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="venvd")
def cli() -> None:
    """venvd: resolve Python requirements for any target platform and build ready environments."""


def _register(*modules: str) -> None:
    """Add the commands of `modules` (names in venvd.cli) to the group: each module's `COMMANDS`
    list, else the command named like the module."""
    import importlib

    for name in modules:
        module = importlib.import_module(f"venvd.cli.{name}")
        commands = getattr(module, "COMMANDS", None)
        if commands is None:
            commands = [getattr(module, name.lstrip("_"))]
        for command in commands:
            if command.name not in cli.commands:
                cli.add_command(command)


def main(argv: list[str] | None = None) -> Any:
    """Run one command (`argv`, default this process's arguments) and exit as the CLI does."""
    try:
        return _main(argv)
    finally:
        if argv is None:
            # The process ends with its command. Move every object to the collector's permanent
            # generation: interpreter shutdown then skips collecting the heap of SQLAlchemy,
            # pydantic and a resolution's pages, which was 0.3-0.45 s of a cold `venvd resolve`
            # (atexit handlers, module teardown and refcount finalizers still run).
            import gc

            gc.freeze()


def _main(argv: list[str] | None) -> Any:
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
