"""pip's hash-checking mode, honoured on a resolved lock.

A requirements file with ``--hash`` pins (or ``--require-hashes``) asks that every package
installed be one of the files whose sha256 it lists, as ``pip install --require-hashes`` does.
venvd resolves as usual, then `restrict_to_hashes` keeps only the files with a listed hash: a
package without hash pins, or none of whose files has a listed hash, is an error naming it (and
the line of its pin), never a silent install of another file. A direct reference's
``#sha256=`` is its file's pin.
"""

from __future__ import annotations

from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from venvd.errors import InvalidDocument
from venvd.inputs._direct import parse_direct
from venvd.inputs._document import Document

__all__ = ["restrict_to_hashes"]


def restrict_to_hashes(lock: dict[str, Any], doc: Document) -> dict[str, Any]:
    """`lock` (JSON, as resolved) with each package's files narrowed to those whose sha256 `doc`
    pins, and without its `id` (the contents changed; `Lock.from_json` computes it again).
    InvalidDocument when a package has no pin, or no file matching one."""
    pins = {name: set(digests) for name, digests in doc.hashes.items()}
    for text, _where in doc.direct:  # a direct reference's #sha256= pins its file too
        reference = parse_direct(Requirement(text))
        pins.setdefault(reference.name, set()).add(reference.sha256)
    missing = [p["name"] for p in lock["packages"] if canonicalize_name(p["name"]) not in pins]
    if missing:
        raise InvalidDocument(
            "hash-checking mode (--hash / --require-hashes): every package installed needs a "
            f"--hash pin, as pip requires; none for {', '.join(sorted(missing))}",
            file=doc.file, kind=doc.kind, packages=sorted(missing))
    packages = []
    for package in lock["packages"]:
        name = canonicalize_name(package["name"])
        allowed = pins[name]
        files = [f for f in package["files"] if str(f["sha256"]).lower() in allowed]
        if not files:
            origin = doc.hash_origins.get(name)
            raise InvalidDocument(
                f"no file of {package['name']} {package['version']} on the indexes has one of the "
                "hashes its --hash pin lists", file=origin.file if origin else doc.file,
                line=origin.line if origin else None, kind=doc.kind, package=package["name"])
        packages.append({**package, "files": files})
    out = {k: v for k, v in lock.items() if k not in ("id", "cached")}
    out["packages"] = packages
    return out
