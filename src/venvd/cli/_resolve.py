"""`venvd resolve`: requirements + target → lock, printed or written to a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from venvd.cli._options import (
    connect_client,
    document_options,
    index_options,
    requirement_options,
    server_options,
    target_body,
)
from venvd.cli._progress import Spinner
from venvd.errors import InputError, UpstreamError


def _target_fields(doc: Any, python: str | None, platform: str | None,
                   target_files: tuple[Path, ...], targets: tuple[str, ...]) -> dict[str, Any]:
    """The body's `target`, or its `targets` when two or more are given, each checked against
    the document's Python (InputError, exit 2, for a malformed --target or one mixed with
    --python/--platform)."""
    from venvd.cli._documents import shorthand_python, target_python
    from venvd.inputs import check_python

    if not targets and len(target_files) <= 1:
        target_file = target_files[0] if target_files else None
        target = target_body(shorthand_python(doc, python, target_file), platform, target_file)
        check_python(doc, target_python(target))
        return {"target": target}
    if python or platform:
        raise InputError("--target/--target-file (several) cannot be combined with "
                         "--python/--platform: give each target as --target PY:PLATFORM")
    given = [target_body(None, None, path) for path in target_files]
    for text in targets:
        version, _, name = (part.strip() for part in text.partition(":"))
        if not version and not name:
            raise InputError(f"--target {text!r}: give PY:PLATFORM, e.g. 3.12:manylinux_2_28_x86_64")
        version = shorthand_python(doc, version or None, None) or ""
        given.append({k: v for k, v in (("python", version), ("platform", name)) if v})
    for target in given:
        check_python(doc, target_python(target))
    return {"targets": given} if len(given) > 1 else {"target": given[0]}


@click.command()
@requirement_options
@document_options
@click.option("--python", "python", metavar="X.Y[.Z]",
              help="Target Python version (default: an environment.yml's python=X.Y).")
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
    file_type: str | None,
    extras: tuple[str, ...],
    all_extras: bool,
    groups: tuple[str, ...],
    skip_conda_packages: bool,
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
    from venvd.cli._documents import gather_document, naming_the_line

    doc = gather_document(requirements, requirement_files, constraint_files, file_type=file_type,
                          extras=extras, all_extras=all_extras, groups=groups,
                          skip_conda_packages=skip_conda_packages)
    if doc.lock is not None:
        raise doc.error("a pylock.toml is already a lock: build it with `venvd create DEST --lock "
                        f"{doc.file}`")
    index_url = index_url or doc.index_url
    extra_index_url = extra_index_url + tuple(doc.extra_index_urls)
    find_links = find_links + tuple(doc.find_links)
    if not doc.requirements:
        raise InputError("no requirements given (pass them as arguments or with -r FILE)")
    options = doc.options()
    body = {
        "requirements": doc.requirements,
        "constraints": doc.constraints,
        **_target_fields(doc, python, platform, target_files, targets),
        "options": {
            "prereleases": pre or doc.pre,
            "exclude_newer": exclude_newer,
            "only_binary": list(only_binary) + options.get("only_binary", []),
            "no_binary": list(no_binary) + options.get("no_binary", []),
        },
    }
    reqs = doc.requirements
    # Hash-checking mode narrows the JSON lock to the pinned files, then renders it here.
    asked = "json" if doc.hash_checking else fmt
    result: Any
    with naming_the_line(doc):
        if server:
            result = _resolve_on_server(server, body, asked, index_url, extra_index_url,
                                        find_links)
        else:
            client = connect_client(server, data_dir, database_url, index_url, extra_index_url,
                                    find_links)
            try:
                with Spinner(f"Resolving {len(reqs)} requirement(s)") as spinner:
                    result = client.resolve(body, asked, reporter=spinner.reporter())
            finally:
                client.close()
    if doc.hash_checking:
        result = _hash_checked(result, doc, fmt)
    if isinstance(result, dict):
        text = json.dumps(result, indent=2, sort_keys=False) + "\n"
        summary = f"{len(result['packages'])} packages pinned" + (" (cached)" if result.get("cached") else "")
    else:
        text = result
        summary = "resolved"
    if doc.label:
        summary = f"{doc.label}: {summary}"
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


def _hash_checked(result: Any, doc: Any, fmt: str) -> Any:
    """The resolved JSON lock restricted to the files the document's --hash pins allow (pip's
    hash-checking mode), as `fmt`."""
    from venvd.formats import render
    from venvd.inputs import restrict_to_hashes
    from venvd.lock import Lock

    lock = Lock.from_json(restrict_to_hashes(result, doc))
    return lock.to_json() if fmt == "json" else render(lock, fmt)[0]
