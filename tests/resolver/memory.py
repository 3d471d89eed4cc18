"""An in-memory PackageSource built from a case's `[index]` table, and the case loader.

This is a data source implementing the resolver's protocol (not a mock): an index description
becomes real `DistFile`s (parsed from real file names) and `CoreMetadata`.

Index description, per project and version (every key optional)::

    [index.a."1.0"]
    requires_dist = ['b>=1', 'cffi; os_name == "nt"']
    requires_python = ">=3.8"          # on the files (data-requires-python) and in the metadata
    index_requires_python = false      # the index does not show it: only the metadata says it
    wheels = ["py3-none-any", "cp311-cp311-manylinux_2_17_x86_64", "a-1.0-py2-none-any.whl"]
    sdist = true                       # default: false, and one py2.py3-none-any wheel if no wheels
    yanked = true                      # or a reason string
    upload_time = 2024-01-01T00:00:00Z # default 2024-01-01; `false` for none
    no_hash = true                     # files without sha256
    # any of the file-level keys above may also be set per wheel: wheels = [{file = "...", ...}]
    metadata_name = "other"            # metadata disagreeing with the file names
    metadata_version = "9.9"

An empty `[index.name]` table is a project with no files; a project absent from `[index]` is on
no index.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from venvd.dist import CoreMetadata, DistFile
from venvd.resolver import ResolveOptions
from venvd.target import Target

INDEX_URL = "https://index.test/simple"
DEFAULT_UPLOAD = datetime(2024, 1, 1, tzinfo=UTC)


class MemorySource:
    """PackageSource over an index description. Records metadata reads and prefetch hints."""

    def __init__(self, index: dict[str, Any], *, reverse: bool = False) -> None:
        self._files: dict[NormalizedName, list[DistFile]] = {}
        self._metadata: dict[str, CoreMetadata] = {}
        for project, versions in index.items():
            name = canonicalize_name(project)
            files = self._files.setdefault(name, [])
            for version, spec in versions.items():
                for file, metadata in _version_files(name, version, spec or {}):
                    files.append(file)
                    self._metadata[file.filename] = metadata
            if reverse:
                files.reverse()
        self.metadata_reads: list[str] = []
        self.prefetched: list[str] = []
        self.pages: list[str] = []
        self.log: list[tuple[str, str]] = []  # ("read" | "prefetch", filename), in call order

    def project_files(self, name: NormalizedName) -> Sequence[DistFile] | None:
        self.pages.append(name)
        files = self._files.get(name)
        return None if files is None else list(files)

    def metadata(self, file: DistFile) -> CoreMetadata:
        assert file in self._files[file.project], f"{file.filename} is not on the index"
        self.metadata_reads.append(file.filename)
        self.log.append(("read", file.filename))
        return self._metadata[file.filename]

    def prefetch(self, files: Sequence[DistFile]) -> None:
        self.prefetched.extend(f.filename for f in files)
        self.log.extend(("prefetch", f.filename) for f in files)


def _version_files(name: str, version: str,
                   spec: dict[str, Any]) -> list[tuple[DistFile, CoreMetadata]]:
    stem = f"{name.replace('-', '_')}-{version}"
    wheels = spec.get("wheels", [] if spec.get("sdist") else ["py2.py3-none-any"])
    entries: list[dict[str, Any]] = [w if isinstance(w, dict) else {"file": w} for w in wheels]
    if spec.get("sdist"):
        entries.append({"file": f"{stem}.tar.gz"})
    metadata = CoreMetadata.create(
        spec.get("metadata_name", name), spec.get("metadata_version", version),
        requires_dist=spec.get("requires_dist", []), requires_python=spec.get("requires_python"),
        provides_extra=spec.get("provides_extra", []),
    )
    out = []
    for entry in entries:
        # A file's own keys override the version's (`wheels = [{file = ..., yanked = ...}]`).
        rules = {**spec, **entry}
        filename = entry["file"]
        if not filename.endswith((".whl", ".tar.gz")):
            filename = f"{stem}-{filename}.whl"
        yanked = rules.get("yanked", False)
        upload = rules.get("upload_time", DEFAULT_UPLOAD)
        if isinstance(upload, str):
            upload = datetime.fromisoformat(upload)
        requires_python = rules.get("requires_python")
        file = DistFile.from_filename(
            filename, f"https://files.test/{filename}",
            sha256=None if rules.get("no_hash") else hashlib.sha256(filename.encode()).hexdigest(),
            size=1000 + len(filename),
            requires_python=requires_python if rules.get("index_requires_python", True) else None,
            yanked=(yanked if isinstance(yanked, str) else "") if yanked else None,
            upload_time=upload or None,
            index_url=INDEX_URL,
        )
        assert file is not None, filename
        out.append((file, metadata))
    return out


def load_case(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


def case_target(case: dict[str, Any]) -> Target:
    spec = case.get("target", {})
    return Target.from_shorthand(spec.get("python", "3.11"), spec.get("platform",
                                                                       "manylinux_2_28_x86_64"))


def case_options(case: dict[str, Any]) -> ResolveOptions:
    spec = case.get("options", {})
    newer = spec.get("exclude_newer")
    if isinstance(newer, str):
        newer = datetime.fromisoformat(newer)
    return ResolveOptions(
        prereleases=spec.get("prereleases", False),
        prerelease=spec.get("prerelease", "pep440"),
        exclude_newer=newer,
        only_binary=frozenset(spec.get("only_binary", [])),
        no_binary=frozenset(spec.get("no_binary", [])),
    )


def requirements(texts: Sequence[str]) -> list[Requirement]:
    return [Requirement(t) for t in texts]
