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
import threading
from collections import OrderedDict
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


class _Grouped:
    """A project's files by version, the same for every target: built once per page (see
    `grouped`), since grouping and sorting a long history (tens of thousands of files) cost more
    than judging the few versions a resolution asks about."""

    def __init__(self, files: Sequence[DistFile]) -> None:
        self.files = files  # held: the identity check in `grouped` relies on these staying alive
        by_version: dict[Version, list[DistFile]] = {}
        for file in files:
            by_version.setdefault(file.version, []).append(file)
        self.groups = {v: tuple(sorted(fs, key=lambda f: (f.filename, f.url))) for v, fs in
                       by_version.items()}
        # Newest first. Equal versions spelled differently (1.0, 1.0.0) are one version, spelled
        # as in the first file name: the spelling must not depend on the index's file order.
        self.versions: tuple[Version, ...] = tuple(
            sorted((fs[0].version for fs in self.groups.values()), reverse=True))
        self.position = {v: i for i, v in enumerate(self.versions)}

    def holds(self, files: Sequence[DistFile]) -> bool:
        """Whether `files` are exactly the file objects this was built from, in order."""
        mine = self.files
        return len(mine) == len(files) and all(a is b for a, b in zip(mine, files, strict=True))


class GroupCache:
    """Grouped pages by project name, kept across resolutions and targets, at most `max_files`
    files in all (least recently used dropped first). An entry serves only the very file objects
    it was built from (a refreshed page is a new sequence of new objects, and is grouped anew), so
    the cache can never answer with stale files. Thread-safe."""

    def __init__(self, max_files: int = 200_000) -> None:
        self._max_files = max_files
        self._entries: OrderedDict[NormalizedName, _Grouped] = OrderedDict()
        self._files = 0
        self._lock = threading.Lock()

    def get(self, name: NormalizedName, files: Sequence[DistFile]) -> _Grouped:
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None and entry.holds(files):
                self._entries.move_to_end(name)
                return entry
        entry = _Grouped(files)
        if len(files) > self._max_files:
            return entry
        with self._lock:
            previous = self._entries.pop(name, None)
            if previous is not None:
                self._files -= len(previous.files)
            self._entries[name] = entry
            self._files += len(files)
            while self._files > self._max_files:
                _, dropped = self._entries.popitem(last=False)
                self._files -= len(dropped.files)
        return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._files = 0


# The process's grouped pages: the service's page memo hands out the same file objects to every
# resolution while a page is fresh, so a new target starts from grouped files.
GROUPS = GroupCache()


class ProjectView:
    """The files of one project for one target and options; built once per resolution.

    Versions are judged lazily, when first asked about: a resolution looks at a few versions of
    most projects, and judging every file of every version for the target was most of the time
    of a resolution with warm metadata. `judged` counts the versions judged so far.
    """

    def __init__(self, name: NormalizedName, files: Sequence[DistFile], target: Target,
                 options: ResolveOptions, groups: GroupCache | None = None) -> None:
        self.name = name
        self._target = target
        self._options = options
        grouped = (groups if groups is not None else GROUPS).get(name, files)
        self._groups = grouped.groups
        self._position = grouped.position
        self.versions: tuple[Version, ...] = grouped.versions
        self._judged: dict[Version, _VersionFiles] = {}
        self._usable_versions: dict[bool, tuple[Version, ...]] = {}

    def older_than(self, version: Version) -> Sequence[Version]:
        """The versions older than `version` (one of `versions`), newest first."""
        position = self._position.get(version)
        if position is None:
            return tuple(v for v in self.versions if v < version)
        return self.versions[position + 1:]

    @property
    def judged(self) -> int:
        """How many versions have been judged for the target so far."""
        return len(self._judged)

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

    def is_usable(self, version: Version, allow_yanked: bool) -> bool:
        """Whether `version` has a usable file (counting yanked files or not)."""
        installable = self._judge(version).installable
        return bool(installable) and (allow_yanked or any(not f.is_yanked for f in installable))

    def usable_versions(self, allow_yanked: bool) -> tuple[Version, ...]:
        """Versions with a usable file (counting yanked files or not), newest first. Judges every
        version: for explanations, not for the resolver's hot path."""
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
