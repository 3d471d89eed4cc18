"""The CLI's side of input documents: `-r` files (any kind), `-c` files and arguments read into
one `venvd.inputs.Document`, its notices and warnings shown, its Python checked against the
target the command will ask for."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from venvd.errors import InputError, InvalidDocument, InvalidRequirement
from venvd.inputs import Document, Provenance

__all__ = ["DocumentArgs", "gather_document", "naming_the_line", "shorthand_python",
           "target_python"]

# What `document_options` and `requirement_options` give a command, by parameter name.
DocumentArgs = dict[str, Any]


def gather_document(requirements: tuple[str, ...], requirement_files: tuple[Path, ...],
                    constraint_files: tuple[Path, ...], *, file_type: str | None = None,
                    extras: tuple[str, ...] = (), all_extras: bool = False,
                    groups: tuple[str, ...] = (), skip_conda_packages: bool = False) -> Document:
    """Arguments, `-r` files (each of its own kind, or `file_type`) and `-c` files merged into one
    document; a pylock.toml stays alone (its `lock` set). Notices and warnings go to stderr.
    InvalidDocument (exit 2) naming file and line; InputError for options that fit no file."""
    from venvd.inputs import detect_kind, read_document, read_requirements_file, read_text

    merged = Document(kind="requirements.txt", file="command line")
    for requirement in requirements:
        merged.add(requirement, Provenance("command line"))
    takes_extras = False
    for path in requirement_files:
        kind = file_type or detect_kind(str(path), read_text(path))
        selective = kind in ("pyproject.toml", "pylock.toml")
        takes_extras = takes_extras or selective
        doc = read_document(path, kind=kind, skip_conda_packages=skip_conda_packages,
                            **({"extras": extras, "all_extras": all_extras, "groups": groups}
                               if kind == "pyproject.toml" else {}))
        if doc.lock is not None:
            if len(requirement_files) > 1 or requirements or constraint_files:
                raise doc.error("a pylock.toml is a complete lock: give it alone")
            _show(doc)
            return doc
        merged.merge(doc)
    for path in constraint_files:
        merged.merge(read_requirements_file(path, constraints=True))
    if (extras or all_extras or groups) and not takes_extras:
        raise InputError("--extra, --all-extras and --group select from a pyproject.toml or a "
                         "pylock.toml given with -r")
    if merged.no_index:
        origin = merged.index_origin
        raise InvalidDocument("--no-index is not supported: venvd resolves from an index (give "
                              "--index-url, and --find-links for more files)",
                              file=origin.file if origin else None,
                              line=origin.line if origin else None, kind="requirements.txt")
    _show(merged)
    return merged


@contextlib.contextmanager
def naming_the_line(doc: Document | None) -> Iterator[None]:
    """An InvalidRequirement the service raises about a requirement of `doc` (a direct reference
    whose URL the server does not take, say) becomes an InvalidDocument naming its file and line."""
    try:
        yield
    except InvalidRequirement as exc:
        where = doc.origins.get(str(exc.requirement)) if doc is not None else None
        if where is None or where.line is None:
            raise
        raise InvalidDocument(exc.message, file=where.file, line=where.line,
                              kind=doc.kind if doc is not None else None) from None


def _show(doc: Document) -> None:
    for notice in doc.notices:
        click.echo(f"venvd: note: {notice}", err=True)
    for warning in doc.warnings:
        click.echo(f"venvd: warning: {warning}", err=True)


def shorthand_python(doc: Document, python: str | None, target_file: Path | None) -> str | None:
    """`--python` for the target shorthand: the document's Python (conda ``python=3.X``) when
    none was given; an explicit one must agree (InvalidDocument naming both)."""
    from venvd.inputs import check_python

    if doc.python is None or target_file is not None:
        return python
    if python is None:
        return doc.python
    check_python(doc, python, where="--python")
    return python


def target_python(target: Any) -> str:
    """The Python version (python_full_version) of a target body, shorthand or complete."""
    if isinstance(target, dict) and "marker_environment" in target:
        return str(target["marker_environment"].get("python_full_version", ""))
    from venvd.target import target_from_request

    return str(target_from_request(target).python_full_version)
