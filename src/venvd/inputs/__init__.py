"""Input documents: requirements files, conda environment.yml, pyproject.toml and PEP 751
pylock.toml, read into one `Document` that the CLI and the API's bodies turn into a request.

    read_document(path, kind=None, extras=..., groups=..., skip_conda_packages=...)   a file
    parse_document(text, kind=..., file=...)                                          a text
        → Document(requirements, constraints, label, python, requires_python, index options,
                   options, hashes, lock, notices, warnings)
    check_python(doc, python_full_version)      the target against python=3.X / requires-python
    pylock_to_lock(doc, target, extras, groups) a pylock's selection for a target, as a JSON lock
    restrict_to_hashes(lock, doc)               pip's hash-checking mode on a resolved lock
    refuse_for_server(doc)                      what a server may not take from a client
    parse_direct(req) / DirectURLPolicy         hashed ``name @ URL`` references, and the
                                                server's allow-list of URL prefixes

This package is layer-neutral: it imports only `packaging`, PyYAML (lazily) and `venvd.errors`.
Every error is an `InvalidDocument` (exit 2, HTTP 422) naming the file, the line and the problem.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from venvd._lazy import lazy_names

if TYPE_CHECKING:
    from venvd.inputs._direct import DirectError, DirectReference, DirectURLPolicy, parse_direct
    from venvd.inputs._document import KINDS, Document, Kind, Provenance
    from venvd.inputs._hashes import restrict_to_hashes
    from venvd.inputs._pylock import pylock_to_lock
    from venvd.inputs._read import (
        check_python,
        detect_kind,
        parse_document,
        read_document,
        refuse_for_server,
    )
    from venvd.inputs._requirements import read_requirements_file, read_text

# Each name is imported from its module on first use (PEP 562): a command that reads a plain
# requirement list (`venvd resolve six --server URL`) does not pay for the pylock, pyproject and
# hash-checking readers (~30 ms of its start-up).
_HOMES = {
    "KINDS": "_document", "Document": "_document", "Kind": "_document", "Provenance": "_document",
    "restrict_to_hashes": "_hashes", "pylock_to_lock": "_pylock",
    "check_python": "_read", "detect_kind": "_read", "parse_document": "_read",
    "read_document": "_read", "refuse_for_server": "_read",
    "DirectError": "_direct", "DirectReference": "_direct", "DirectURLPolicy": "_direct",
    "parse_direct": "_direct",
    "read_requirements_file": "_requirements", "read_text": "_requirements",
}


__getattr__ = lazy_names(__name__, _HOMES, globals())


__all__ = [
    "KINDS",
    "DirectError",
    "DirectReference",
    "DirectURLPolicy",
    "Document",
    "Kind",
    "Provenance",
    "check_python",
    "detect_kind",
    "parse_direct",
    "parse_document",
    "pylock_to_lock",
    "read_document",
    "read_requirements_file",
    "read_text",
    "refuse_for_server",
    "restrict_to_hashes",
]
