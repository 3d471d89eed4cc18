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
from venvd.errors import InputError


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


def _target_fields(python: str | None, platform: str | None, target_files: tuple[Path, ...],
                   targets: tuple[str, ...]) -> dict[str, Any]:
    """The body's `target`, or its `targets` when two or more are given (InputError, exit 2, for
    a malformed --target or one mixed with --python/--platform)."""
    if not targets and len(target_files) <= 1:
        return {"target": target_body(python, platform, target_files[0] if target_files else None)}
    if python or platform:
        raise InputError("--target/--target-file (several) cannot be combined with "
                         "--python/--platform: give each target as --target PY:PLATFORM")
    given = [target_body(None, None, path) for path in target_files]
    for text in targets:
        version, _, name = text.partition(":")
        if not version.strip() and not name.strip():
            raise InputError(f"--target {text!r}: give PY:PLATFORM, e.g. 3.12:manylinux_2_28_x86_64")
        given.append({k: v.strip() for k, v in (("python", version), ("platform", name))
                      if v.strip()})
    return {"targets": given} if len(given) > 1 else {"target": given[0]}


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
    "target_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Complete platform JSON ({marker_environment, compatible_tags}); give several for a "
    "universal lock.",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="PY:PLATFORM",
    help="A target as Python version and platform (3.12:win_amd64); two or more (with "
    "--target-file) give one universal lock valid on each (--target-file targets first).",
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
    target_files: tuple[Path, ...],
    targets: tuple[str, ...],
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
        **_target_fields(python, platform, target_files, targets),
        "options": {
            "prereleases": pre or parsed.pre,
            "exclude_newer": exclude_newer,
            "only_binary": list(only_binary),
            "no_binary": list(no_binary),
        },
    }
    client = connect_client(server, data_dir, database_url, index_url, extra_index_url, find_links)
    try:
        with Spinner(f"Resolving {len(reqs)} requirement(s)") as spinner:
            if server:
                result = client.resolve(body, fmt)
            else:
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
