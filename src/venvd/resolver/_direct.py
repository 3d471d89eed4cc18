"""Direct references as the only candidates of their projects (as pip and uv take them).

`DirectSource` wraps the resolution's `PackageSource`: a project named by a direct reference
(``name @ URL#sha256=...``) has exactly one file, the referenced one, whatever the indexes list;
its metadata is the file's own, read by the caller (the service downloads the file, checks its
hash and reads it). So every other requirement on that project must be satisfied by that file's
version, or the resolution fails with the usual explanation; the lock pins the file by its URL
and hash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from venvd.dist import CoreMetadata, DistFile
from venvd.errors import InvalidRequirement
from venvd.resolver._types import PackageSource

__all__ = ["DirectFile", "DirectSource", "check_direct_requirements"]

# A direct reference's file and its metadata (already read and checked against the file's hash).
DirectFile = tuple[DistFile, CoreMetadata]


class DirectSource:
    """`source`, except that each project of `direct` has only its direct file."""

    def __init__(self, source: PackageSource, direct: Mapping[NormalizedName, DirectFile]) -> None:
        self._source = source
        self._direct = dict(direct)
        self._metadata = {file.url: meta for file, meta in direct.values()}

    def project_files(self, name: NormalizedName) -> Sequence[DistFile] | None:
        found = self._direct.get(name)
        if found is not None:
            return (found[0],)
        return self._source.project_files(name)

    def metadata(self, file: DistFile) -> CoreMetadata:
        found = self._direct.get(file.project)
        if found is not None and found[0] == file:
            return found[1]
        return self._source.metadata(file)

    def prefetch(self, files: Sequence[DistFile]) -> None:
        self._source.prefetch([f for f in files if f.url not in self._metadata])


def check_direct_requirements(requirements: Sequence[Requirement],
                              direct: Mapping[NormalizedName, DirectFile]) -> None:
    """Every URL requirement names a file of `direct` (by URL, ignoring its fragment), one URL per
    project; InvalidRequirement otherwise."""
    urls: dict[NormalizedName, str] = {}
    for req in requirements:
        if not req.url:
            continue
        name = canonicalize_name(req.name)
        url = req.url.split("#", 1)[0]
        found = direct.get(name)
        if found is None or found[0].url != url:
            raise InvalidRequirement(str(req), "direct URL requirements are resolved only with "
                                     "their file given (the service downloads and checks it)")
        if urls.setdefault(name, url) != url:
            raise InvalidRequirement(str(req), f"{name} is given by two different direct "
                                     "references; one project, one file")
