"""Assemble the Lock from a successful resolution.

Each locked package lists every file of its version that is usable on the target (the builder picks
the best one; pip's --require-hashes wants them all), files without a sha256 left out. Its
dependencies are the Requires-Dist names that apply on the target with the extras that were asked
of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from venvd.dist import DistFile
from venvd.errors import NoCompatibleDistribution
from venvd.lock import Lock, LockedFile, LockedPackage
from venvd.resolver._candidates import as_utc
from venvd.resolver._model import Candidate, Req
from venvd.resolver._provider import Provider

if TYPE_CHECKING:
    from resolvelib.resolvers import Criterion


def build_lock(mapping: Mapping[str, Candidate], criteria: Mapping[str, Criterion[Req, Candidate]],
               provider: Provider, requirements: Sequence[Requirement],
               constraints: Sequence[Requirement]) -> Lock:
    chosen: dict[NormalizedName, tuple[Version, set[NormalizedName]]] = {}
    for candidate in mapping.values():
        version, extras = chosen.setdefault(candidate.name, (candidate.version, set()))
        extras |= candidate.extras
    packages = []
    for name in sorted(chosen):
        version, extras = chosen[name]
        reqs = [r for ident, criterion in criteria.items()
                if ident in mapping and mapping[ident].name == name
                for r in criterion.iter_requirement()]
        packages.append(_package(provider, name, version, frozenset(extras), reqs))
    return Lock(
        packages=tuple(packages),
        target=provider.target.to_json(),
        requirements=tuple(sorted(str(r) for r in requirements)),
        constraints=tuple(sorted(str(c) for c in constraints)),
    )


def _package(provider: Provider, name: NormalizedName, version: Version,
             extras: frozenset[NormalizedName], reqs: list[Req]) -> LockedPackage:
    view = provider.project(name)
    assert view is not None  # a pinned project was found on an index
    allow_yanked = provider.allow_yanked(version, provider.all_reqs(name, reqs))
    usable = view.usable_files(version, allow_yanked)
    files = tuple(_locked_file(f) for f in usable if f.sha256)
    if not files:
        raise NoCompatibleDistribution(
            f"{name} {version} has no file usable on the target with a sha256 hash "
            f"(usable files: {', '.join(f.filename for f in usable) or 'none'})", package=name)
    metadata = provider.metadata(name, version)
    dependencies = sorted({
        canonicalize_name(r.name) for r in metadata.requirements()
        if provider.target.evaluate(r.marker, extras)
    } - {name})
    return LockedPackage(
        name=name,
        version=str(version),
        files=files,
        dependencies=tuple(dependencies),
        requires_python=metadata.requires_python,
        index=usable[0].index_url or None,
    )


def _locked_file(file: DistFile) -> LockedFile:
    assert file.sha256 is not None
    uploaded = None
    if file.upload_time is not None:
        uploaded = as_utc(file.upload_time).isoformat().replace("+00:00", "Z")
    return LockedFile(filename=file.filename, url=file.url, sha256=file.sha256, size=file.size,
                      upload_time=uploaded)
