"""Which kind a document is, reading it as that kind, and checking it against a target."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from venvd.errors import InvalidDocument
from venvd.inputs._document import KINDS, Document, Kind
from venvd.inputs._requirements import Opener

__all__ = ["check_python", "detect_kind", "parse_document", "read_document", "refuse_for_server"]

_YAML_KEYS = re.compile(r"^(name|channels|dependencies)\s*:", re.MULTILINE)
_PYLOCK_KEY = re.compile(r"^\s*lock-version\s*=", re.MULTILINE)
_PYPROJECT_TABLE = re.compile(r"^\s*\[(project|dependency-groups)\]", re.MULTILINE)
# Bound on a document's text, whatever the body size allows: the API parses documents while it
# validates a body, and real ones are a few kilobytes (1 MiB of requirement lines parses in
# about a second on a busy 2-core machine).
MAX_DOCUMENT_BYTES = 1024 * 1024


def detect_kind(name: str, text: str) -> Kind:
    """The kind of a document by its file name, else by its content: ``*.yml``/``*.yaml`` →
    environment.yml, ``pyproject.toml``, ``pylock.toml``/``pylock.*.toml`` (PEP 751 names), another
    ``.toml`` or an unnamed text by its keys; anything else is a requirements file."""
    base = Path(name).name.lower()
    if base.endswith((".yml", ".yaml")):
        return "environment.yml"
    if base == "pyproject.toml":
        return "pyproject.toml"
    # packaging.pylock only for a name that may be one: importing it builds its whole model
    # (~37 M instructions, 3% of a warm `venvd create`) to test a file name.
    if base.startswith("pylock.") and base.endswith(".toml"):
        from packaging.pylock import is_valid_pylock_path

        if is_valid_pylock_path(Path(base)):
            return "pylock.toml"
    if _PYLOCK_KEY.search(text):
        return "pylock.toml"
    if _PYPROJECT_TABLE.search(text):
        return "pyproject.toml"
    if _YAML_KEYS.search(text):
        return "environment.yml"
    if base.endswith(".toml"):
        raise InvalidDocument("a .toml file that is neither a pyproject.toml ([project] or "
                              "[dependency-groups]) nor a pylock.toml (lock-version): give "
                              "--file-type", file=name)
    return "requirements.txt"


def parse_document(
    text: str,
    *,
    kind: str | None = None,
    file: str | None = None,
    extras: Iterable[str] = (),
    all_extras: bool = False,
    groups: Iterable[str] = (),
    skip_conda_packages: bool = False,
    opener: Opener = None,
    environ: Mapping[str, str] | None = None,
) -> Document:
    """Parse `text` as `kind` (detected from `file` and the text when None). `opener` reads the
    files that ``-r``/``-c`` lines name (None: such lines are refused, as for a document posted
    to a server); `environ` expands ``${VAR}`` in requirement lines (None: no expansion).
    InvalidDocument naming file, line and problem."""
    name = file or (kind if kind in KINDS else "document")
    if kind is not None and kind not in KINDS:
        raise InvalidDocument(f"unknown document kind {kind!r}; choose one of {', '.join(KINDS)}",
                              file=name, kinds=list(KINDS))
    if len(text.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
        raise InvalidDocument(f"larger than {MAX_DOCUMENT_BYTES} bytes", file=name)
    found: Kind = kind if kind is not None else detect_kind(file or "", text)
    name = file or found  # an unnamed document is called by its kind in messages
    extras, groups = list(extras), list(groups)
    if found in ("requirements.txt", "environment.yml") and (extras or all_extras or groups):
        raise InvalidDocument("extras and dependency groups apply to a pyproject.toml or a "
                              f"pylock.toml, not to a {found}", file=name, kind=found)
    if found == "requirements.txt":
        from venvd.inputs._requirements import parse_requirements_text

        return parse_requirements_text(text, name, environ=environ, opener=opener)
    if found == "environment.yml":
        from venvd.inputs._conda import parse_environment_yml

        return parse_environment_yml(text, name, skip_conda_packages=skip_conda_packages,
                                     opener=opener, environ=environ)
    if found == "pyproject.toml":
        from venvd.inputs._pyproject import parse_pyproject

        return parse_pyproject(text, name, extras=extras, all_extras=all_extras, groups=groups)
    from venvd.inputs._pylock import parse_pylock

    return parse_pylock(text, name)


def read_document(path: Path, *, kind: str | None = None, **options: Any) -> Document:
    """Read and parse the file `path` (see `parse_document`); nested ``-r``/``-c`` files are read
    relative to the file naming them, ``${VAR}`` is expanded from this process's environment."""
    import os

    from venvd.inputs._requirements import read_text

    return parse_document(read_text(path), kind=kind, file=str(path), opener=read_text,
                          environ=options.pop("environ", os.environ), **options)


def check_python(doc: Document, python_full_version: str, where: str = "the target") -> None:
    """Refuse a target whose Python is not the one `doc` asks for (conda ``python=3.X[.Y]``) or
    outside its ``requires-python`` (pyproject): InvalidDocument naming both."""
    try:
        actual = Version(python_full_version)
    except InvalidVersion:
        return  # the target's own validation reports it
    if doc.python is not None:
        wanted = Version(doc.python).release
        if actual.release[: len(wanted)] != wanted:
            origin = doc.python_origin
            raise InvalidDocument(
                f"asks for Python {doc.python}, but {where} is Python {python_full_version}",
                file=origin.file if origin else doc.file, line=origin.line if origin else None,
                kind=doc.kind, python=doc.python)
    if doc.requires_python:
        from packaging.specifiers import SpecifierSet

        if not SpecifierSet(doc.requires_python).contains(actual, prereleases=True):
            raise InvalidDocument(
                f"requires-python {doc.requires_python!r} excludes {where} (Python "
                f"{python_full_version})", file=doc.file, kind=doc.kind,
                requires_python=doc.requires_python)


def refuse_for_server(doc: Document) -> None:
    """What a document posted to a server may not carry: index options (the server resolves
    with its own indexes, never a client's URL). InvalidDocument naming the line. Direct
    references pass (the server checks their URLs against its own allow-list), and so do
    ``--hash`` pins (the server narrows the lock to the pinned files, `restrict_to_hashes`)."""
    if doc.has_index_options:
        origin = doc.index_origin
        raise InvalidDocument(
            "index options (--index-url, --extra-index-url, --find-links, --no-index) are not "
            "taken from a document sent to a server: it resolves with its own indexes",
            file=origin.file if origin else doc.file, line=origin.line if origin else None,
            kind=doc.kind)
