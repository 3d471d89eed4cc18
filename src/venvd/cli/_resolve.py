"""`venvd resolve`: requirements + target → lock, printed or written to a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from venvd.cli._options import (
    connect_client,
    index_options,
    requirement_options,
    server_options,
    target_body,
)
from venvd.cli._progress import Spinner
from venvd.errors import InputError, UpstreamError


def gather_requirements(
    requirements: tuple[str, ...],
    requirement_files: tuple[Path, ...],
    constraint_files: tuple[Path, ...],
) -> tuple[list[str], list[str], Any]:
    from venvd.cli._reqfile import RequirementFile, read_requirement_file

    merged = RequirementFile(requirements=list(requirements))
    for path in requirement_files:
        read_requirement_file(path, into=merged)
    for path in constraint_files:
        read_requirement_file(path, as_constraints=True, into=merged)
    return merged.requirements, merged.constraints, merged


@click.command()
@requirement_options
@click.option("--python", "python", metavar="X.Y[.Z]", help="Target Python version.")
@click.option(
    "--platform",
    metavar="NAME",
    help="Target platform: manylinux_2_28_x86_64, linux_x86_64, macosx_14_0_arm64, win_amd64...",
)
@click.option(
    "--target-file",
    type=click.Path(path_type=Path),
    help="Complete platform JSON ({marker_environment, compatible_tags}).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "requirements", "pylock"]),
    default="json",
    show_default=True,
)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the lock here.")
@click.option(
    "--exclude-newer",
    metavar="TIMESTAMP",
    help="Ignore files uploaded after this RFC 3339 time or date (PEP 700).",
)
@click.option("--pre", is_flag=True, help="Allow pre-releases.")
@click.option(
    "--only-binary",
    multiple=True,
    metavar="NAMES",
    help="Use only wheels for these projects (:all: for every project).",
)
@click.option(
    "--no-binary",
    multiple=True,
    metavar="NAMES",
    help="Never use wheels for these projects (:all: for every project).",
)
@index_options
@server_options
def resolve(
    requirements: tuple[str, ...],
    requirement_files: tuple[Path, ...],
    constraint_files: tuple[Path, ...],
    python: str | None,
    platform: str | None,
    target_file: Path | None,
    fmt: str,
    output: Path | None,
    exclude_newer: str | None,
    pre: bool,
    only_binary: tuple[str, ...],
    no_binary: tuple[str, ...],
    index_url: str | None,
    extra_index_url: tuple[str, ...],
    find_links: tuple[str, ...],
    server: str | None,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Resolve REQUIREMENTS to exact pins with hashes for a target platform."""
    reqs, constraints, parsed = gather_requirements(requirements, requirement_files, constraint_files)
    index_url = index_url or parsed.index_url
    extra_index_url = extra_index_url + tuple(parsed.extra_index_urls)
    find_links = find_links + tuple(parsed.find_links)
    if not reqs:
        raise InputError("no requirements given (pass them as arguments or with -r FILE)")
    body = {
        "requirements": reqs,
        "constraints": constraints,
        "target": target_body(python, platform, target_file),
        "options": {
            "prereleases": pre or parsed.pre,
            "exclude_newer": exclude_newer,
            "only_binary": list(only_binary),
            "no_binary": list(no_binary),
        },
    }
    result: dict[str, Any] | str
    if server:
        result = _resolve_on_server(server, body, fmt, index_url, extra_index_url, find_links)
    else:
        client = connect_client(server, data_dir, database_url, index_url, extra_index_url,
                                find_links)
        try:
            with Spinner(f"Resolving {len(reqs)} requirement(s)") as spinner:
                result = client.resolve(body, fmt, reporter=spinner.reporter())
        finally:
            client.close()
    if isinstance(result, dict):
        text = json.dumps(result, indent=2, sort_keys=False) + "\n"
        summary = f"{len(result['packages'])} packages pinned" + (" (cached)" if result.get("cached") else "")
    else:
        text = result
        summary = "resolved"
    if output:
        output.write_text(text)
        click.echo(f"venvd: {summary}; wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


def _resolve_on_server(server: str, body: dict[str, Any], fmt: str, index_url: str | None,
                       extra_index_url: tuple[str, ...], find_links: tuple[str, ...]) -> Any:
    """POST /v1/resolve by the thin path (`_post`): the lock JSON, or the rendered text."""
    from venvd.cli._post import post

    if index_url or extra_index_url or find_links:
        raise InputError(
            "index options configure the in-process service; a server "
            "(--server/VENVD_SERVER) resolves with its own indexes"
        )
    context = click.get_current_context(silent=True)
    token = context.meta.get("venvd.token") if context is not None else None
    with Spinner(f"Resolving {len(body['requirements'])} requirement(s)"):
        data = post(server, "/v1/resolve", body, token=token, params={"format": fmt})
    if fmt == "json":
        try:
            return json.loads(data)
        except ValueError:
            raise UpstreamError(f"venvd server {server} answered with something not JSON",
                                url=server) from None
    return data.decode("utf-8", errors="replace")
