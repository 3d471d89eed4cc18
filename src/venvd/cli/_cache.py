"""`venvd cache dir|clean|prune`: the client's cache of unpacked fragments (as `uv cache`)."""

from __future__ import annotations

from pathlib import Path

import click

from venvd.cli._options import cache_dir_option, file_cache


@click.group()
def cache() -> None:
    """The client cache of unpacked environment files (what `venvd create` links from)."""


@cache.command("dir")
@cache_dir_option
def cache_dir(cache_dir: Path | None) -> None:
    """Print the cache directory."""
    click.echo(str(file_cache(cache_dir).root))


@cache.command()
@cache_dir_option
def clean(cache_dir: Path | None) -> None:
    """Remove every cached file (venvs made with hard links keep theirs)."""
    removed, freed = file_cache(cache_dir).clean()
    click.echo(f"venvd: removed {removed} entries ({_size(freed)})", err=True)


@cache.command()
@cache_dir_option
@click.option("--max-size", metavar="SIZE",
              help="Keep at most SIZE (10G, 500M ...; default VENVD_CLIENT_CACHE_MAX_SIZE or 10G).")
def prune(cache_dir: Path | None, max_size: str | None) -> None:
    """Remove leftovers of interrupted runs and the least recently used entries past the bound."""
    from venvd.materialize import parse_size

    files = file_cache(cache_dir)
    removed, freed = files.prune(parse_size(max_size) if max_size else None)
    entries = files.entries()
    click.echo(f"venvd: removed {removed} entries ({_size(freed)}); {len(entries)} kept "
               f"({_size(sum(size for _, size, _ in entries))})", err=True)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
