"""One project's files, grouped by version and judged for usability on the target.

A file is *usable* when it is visible (uploaded no later than `exclude_newer`, and with an upload
time when that option is set), its Requires-Python admits the target's Python, its kind is allowed
by only-binary / no-binary, and, for a wheel, the target accepts one of its tags. Yanked files are
usable only for an exact pin, so that is decided per call (`allow_yanked`). A version is a
candidate only if it has at least one usable file. When it has none, `problem` says why in words,
for explanations.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from venvd.dist import DistFile
from venvd.resolver._model import Req
from venvd.resolver._types import ResolveOptions
from venvd.target import Target

ProblemKind = Literal["newer", "yanked", "python", "format", "tags", "metadata", "prerelease",
                      "dependency"]


@dataclasses.dataclass(frozen=True)
class Problem:
    """Why a version is not a candidate; `detail` completes the sentence "x 1.0 ..."."""

    kind: ProblemKind
    detail: str
    requires_python: str | None = None
    dependency: Req | None = None  # for "dependency": the requirement that can never be met


def as_utc(moment: datetime) -> datetime:
    """Index times without a zone are UTC (PEP 700 says so for upload-time)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def target_tag_text(target: Target) -> str:
    """The target's best tag as `interpreter-platform`, e.g. `cp311-manylinux_2_28_x86_64`."""
    if not target.compatible_tags:
        return "no tags"
    best = target.compatible_tags[0]
    return f"{best.interpreter}-{best.platform}"


def within_bounds(newest_first: Sequence[Version], specifier: SpecifierSet) -> Sequence[Version]:
    """The slice of `newest_first` that the ordered comparisons (<, <=, >, >=) of `specifier`
    can match, found by bisection: a superset of the matches, for `SpecifierSet.filter` to finish.

    Each such clause, as packaging decides it (pre-, post- and local-release rules included),
    holds on a contiguous run of a sorted version list, so bisection with packaging's own
    `contains` finds the run without deciding anything itself. For long histories (botocore has
    thousands of versions) this replaces a linear scan per distinct range.
    """
    lo, hi = 0, len(newest_first)
    for spec in specifier:
        if spec.operator in (">", ">="):
            # Matches are a prefix of the newest-first list: find the first version that fails.
            hi = bisect.bisect_left(range(lo, hi), True, key=lambda i: not spec.contains(
                newest_first[i], prereleases=True)) + lo
        elif spec.operator in ("<", "<="):
            # Matches are a suffix: find the first version that passes.
            lo = bisect.bisect_left(range(lo, hi), True, key=lambda i: spec.contains(
                newest_first[i], prereleases=True)) + lo
    return newest_first[lo:hi]


@dataclasses.dataclass(frozen=True)
class _VersionFiles:
    files: tuple[DistFile, ...]  # every file of the version, sorted by filename
    visible: tuple[DistFile, ...]  # passes exclude_newer
    installable: tuple[DistFile, ...]  # visible and usable on the target, yanked ones included
    problem: Problem | None  # why `installable` is empty


class ProjectView:
    """The files of one project for one target and options; built once per resolution."""

    def __init__(self, name: NormalizedName, files: Sequence[DistFile], target: Target,
                 options: ResolveOptions) -> None:
        self.name = name
        self._target = target
        self._options = options
        grouped: dict[Version, list[DistFile]] = {}
        for file in files:
            grouped.setdefault(file.version, []).append(file)
        self._groups = {v: tuple(sorted(fs, key=lambda f: (f.filename, f.url))) for v, fs in
                        grouped.items()}
        # Newest first. Equal versions spelled differently (1.0, 1.0.0) are one version, spelled
        # as in the first file name: the spelling must not depend on the index's file order.
        self.versions: tuple[Version, ...] = tuple(
            sorted((fs[0].version for fs in self._groups.values()), reverse=True))
        self._judged: dict[Version, _VersionFiles] = {}
        self._usable_versions: dict[bool, tuple[Version, ...]] = {}

    # -- per-file rules -------------------------------------------------------------------------
    def _is_visible(self, file: DistFile) -> bool:
        limit = self._options.exclude_newer
        if limit is None:
            return True
        return file.upload_time is not None and as_utc(file.upload_time) <= as_utc(limit)

    def _python_ok(self, file: DistFile) -> bool:
        # By text: the target remembers its answer per Requires-Python string.
        return self._target.allows_python(file.requires_python)

    def _kind_ok(self, file: DistFile) -> bool:
        if file.kind == "wheel":
            return self._options.wheels_allowed(self.name)
        return self._options.sdists_allowed(self.name)

    def _tags_ok(self, file: DistFile) -> bool:
        return file.kind != "wheel" or self._target.tag_rank(file.tags) is not None

    # -- per-version views ----------------------------------------------------------------------
    def _judge(self, version: Version) -> _VersionFiles:
        judged = self._judged.get(version)
        if judged is not None:
            return judged
        files = self._groups.get(version, ())
        visible = tuple(f for f in files if self._is_visible(f))
        # A funnel: the rule that removes the last remaining file is the reason given.
        problem: Problem | None = None
        remaining = visible
        if not remaining:
            when = self._options.exclude_newer
            problem = Problem("newer", f"was uploaded after {when.isoformat() if when else '?'}"
                              " or has no upload time")
        if problem is None:
            passing = tuple(f for f in remaining if self._python_ok(f))
            if not passing:
                needs = remaining[0].requires_python or ""
                problem = Problem("python", f"requires Python {needs}", requires_python=needs)
            remaining = passing
        if problem is None:
            passing = tuple(f for f in remaining if self._kind_ok(f))
            if not passing:
                rule = "no-binary" if remaining[0].kind == "wheel" else "only-binary"
                problem = Problem("format", f"has only files that {rule} excludes")
            remaining = passing
        if problem is None:
            passing = tuple(f for f in remaining if self._tags_ok(f))
            if not passing:
                problem = Problem("tags", "has no file compatible with the target "
                                  f"({target_tag_text(self._target)})")
            remaining = passing
        judged = _VersionFiles(files=files, visible=visible, installable=remaining, problem=problem)
        self._judged[version] = judged
        return judged

    def usable_files(self, version: Version, allow_yanked: bool) -> tuple[DistFile, ...]:
        """The files of `version` usable on the target, sorted by filename."""
        installable = self._judge(version).installable
        if allow_yanked:
            return installable
        return tuple(f for f in installable if not f.is_yanked)

    def usable_versions(self, allow_yanked: bool) -> tuple[Version, ...]:
        """Versions with a usable file (counting yanked files or not), newest first."""
        found = self._usable_versions.get(allow_yanked)
        if found is None:
            found = tuple(v for v in self.versions if self.usable_files(v, allow_yanked))
            self._usable_versions[allow_yanked] = found
        return found

    def problem(self, version: Version, allow_yanked: bool) -> Problem | None:
        """Why `version` has no usable file, or None when it has one."""
        judged = self._judge(version)
        if judged.problem is not None:
            return judged.problem
        if not self.usable_files(version, allow_yanked):
            return Problem("yanked", "is yanked (only an exact == or === pin in the request or a "
                                     "constraint selects it)")
        return None

    def metadata_file(self, version: Version, allow_yanked: bool) -> DistFile | None:
        """The file to read `version`'s metadata from: the best compatible wheel, else any wheel
        (whose Requires-Python admits the target), else a usable sdist; None if none is usable.
        """
        usable = self.usable_files(version, allow_yanked)
        if not usable:
            return None
        wheels = [f for f in usable if f.kind == "wheel"]
        if wheels:
            return min(wheels, key=lambda f: (self._target.tag_rank(f.tags), f.filename))
        # Another platform's wheel carries the same metadata as a rule, and reading it is far
        # cheaper than building the sdist's metadata (uv does the same).
        others = [f for f in self._judge(version).visible
                  if f.kind == "wheel" and self._python_ok(f) and (allow_yanked or not f.is_yanked)]
        if others:
            return others[0]
        return usable[0]
