"""Build requirements of sdist builds, through venvd's own indexes (the sandbox's provider).

`BuildRequirementWheels(resolve, fetch, cache)` is a `venvd.sandbox.BuildRequirements`: it resolves
the requirement strings with venvd's resolver for the server's own interpreter (wheels only, the
same indexes and first-index rule as every other request), and returns the wheel files of the whole
closure from the wheel cache, downloading (hash-verified) those it lacks. Resolutions are cached
like any other, so the second sdist needing setuptools costs no index request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from venvd.builder import BuildCache, Fetcher
from venvd.dist import parse_dist_filename
from venvd.errors import NoCompatibleDistribution
from venvd.lock import Lock, LockedFile, LockedPackage
from venvd.target import Target

__all__ = ["BuildRequirementWheels"]

# (requirements, target, request options) -> the lock; the service's resolve, cached.
Resolve = Callable[[Sequence[str], Target, dict[str, object]], Lock]


class BuildRequirementWheels:
    def __init__(self, resolve: Resolve, fetch: Fetcher, cache: BuildCache) -> None:
        self._resolve = resolve
        self._fetch = fetch
        self._cache = cache

    def __call__(self, requirements: Sequence[str]) -> list[Path]:
        """Wheel files satisfying `requirements` on this interpreter (raises the resolver's and the
        index's errors: ResolutionImpossible, ProjectNotFound, UpstreamError, ...)."""
        target = Target.current()
        lock = self._resolve(list(requirements), target, {"only_binary": [":all:"]})
        return [self._wheel(package, target) for package in lock.packages]

    def _wheel(self, package: LockedPackage, target: Target) -> Path:
        file = _best_wheel(package, target)
        cached = self._cache.cached_file(file.sha256, file.filename, file.size)
        if cached is not None:
            return cached
        dest = self._cache.wheel_path(file.sha256, file.filename)
        self._fetch(file.url, file.sha256, dest)
        self._cache.share(dest)  # the other nodes' sdist builds read it from the object store
        return dest


def _best_wheel(package: LockedPackage, target: Target) -> LockedFile:
    ranked: list[tuple[int, str, LockedFile]] = []
    for file in package.files:
        parsed = parse_dist_filename(file.filename)
        if parsed is None or parsed[2] != "wheel":
            continue
        rank = target.tag_rank(parsed[3])
        if rank is not None:
            ranked.append((rank, file.filename, file))
    if not ranked:
        raise NoCompatibleDistribution(
            f"build requirement {package.name} {package.version} has no wheel for this server's "
            "interpreter", package=package.name)
    return min(ranked, key=lambda r: (r[0], r[1]))[2]
