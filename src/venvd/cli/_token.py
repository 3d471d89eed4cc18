"""`venvd token create|list|revoke`: API tokens, managed on the store directly.

These commands open the store (`--data-dir` / `--database-url`, as `venvd serve` does) rather than
calling an admin API: the first token cannot come from an API that already needs one, and whoever
can open the store (its file, or the PostgreSQL credentials) already controls everything the
tokens protect. Every API node sharing the store sees a change within seconds (their token cache).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

__all__ = ["token"]

_store_options = [
    click.option("--data-dir", envvar="VENVD_DATA_DIR", type=click.Path(path_type=Path),
                 help="Data directory of the server's store (env VENVD_DATA_DIR)."),
    click.option("--database-url", envvar="VENVD_DATABASE_URL", metavar="URL",
                 help="The server's database (env VENVD_DATABASE_URL; default: SQLite in the "
                 "data dir)."),
]


def _with_store_options(func: Any) -> Any:
    for option in reversed(_store_options):
        func = option(func)
    return func


def _tokens(data_dir: Path | None, database_url: str | None) -> Any:
    from venvd.cli._options import build_settings
    from venvd.store import Store, Tokens

    settings = build_settings(data_dir, database_url, None, (), ())
    store = Store.open(settings.resolved_database_url)
    return store, Tokens(store)


@click.group()
def token() -> None:
    """Bearer tokens of the server's API (scopes: read < build < admin)."""


@token.command()
@click.option("--name", required=True, help="A name to find the token by (unique among active ones).")
@click.option("--scope", type=click.Choice(["read", "build", "admin"]), required=True,
              help="read: resolve, status, download; build: also create environments; "
              "admin: also GC and tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print the record and token as JSON.")
@_with_store_options
def create(name: str, scope: str, as_json: bool, data_dir: Path | None,
           database_url: str | None) -> None:
    """Create a token and print it once (only its hash is stored)."""
    store, tokens = _tokens(data_dir, database_url)
    try:
        record, secret = tokens.create(name, scope)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({**record.to_json(), "token": secret}))
    else:
        click.echo(secret)
        click.echo(f"venvd: token {record.name!r} (id {record.id}, scope {record.scope}) created; "
                   "it is shown only now", err=True)


@token.command("list")
@click.option("--all", "show_all", is_flag=True, help="Revoked tokens too.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
@_with_store_options
def list_(show_all: bool, as_json: bool, data_dir: Path | None, database_url: str | None) -> None:
    """The tokens (never their secrets)."""
    store, tokens = _tokens(data_dir, database_url)
    try:
        records = tokens.list(revoked=show_all)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps([r.to_json() for r in records]))
        return
    click.echo(f"{'ID':>4}  {'NAME':<24} {'SCOPE':<6} {'CREATED':<20} {'LAST USED':<20} REVOKED")
    for r in records:
        click.echo(f"{r.id:>4}  {r.name:<24} {r.scope:<6} {_when(r.created_at):<20} "
                   f"{_when(r.last_used_at):<20} {_when(r.revoked_at)}")


@token.command()
@click.argument("name_or_id")
@_with_store_options
def revoke(name_or_id: str, data_dir: Path | None, database_url: str | None) -> None:
    """Revoke the active token NAME_OR_ID (refused within seconds on every API node)."""
    store, tokens = _tokens(data_dir, database_url)
    try:
        record = tokens.revoke(name_or_id)
    finally:
        store.close()
    click.echo(f"venvd: token {record.name!r} (id {record.id}) revoked", err=True)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"
