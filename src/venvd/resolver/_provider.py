"""The resolvelib provider: candidates are versions with a usable file for the target.

Contract (resolvelib's `AbstractProvider`, with RT = `Req`, CT = `Candidate`, KT = identifier str):

- `find_matches` returns, newest first, the versions that have a usable file (see `_candidates`),
  satisfy every requirement and constraint on the identifier, pass the pre-release policy, and are
  not known incompatibilities. It is lazy: metadata is read only as resolvelib walks the list, and
  a version whose metadata disagrees with its file name, or whose metadata Requires-Python excludes
  the target, is skipped.
- `get_dependencies` gives Requires-Dist entries whose markers hold for the target (never the
  host), with the candidate's extras; an extras candidate also depends on its base at the same
  version.
- Pre-releases, by `options.prerelease` (`options.prereleases` means "allow"):
  "pep440" (default, as pip): allowed if a specifier on the identifier names one, or if no final
  release among the usable versions satisfies the specifiers (packaging's `SpecifierSet.filter`);
  uv's modes: "allow" always, "disallow" never, "if-necessary" when every usable version of the
  project is a pre-release, "explicit" when a requirement or constraint the user wrote on the
  project names a pre-release, "if-necessary-or-explicit" (uv's default) either. The decision ignores
  incompatibilities so that backtracking cannot flip it.
- A candidate with a dependency that no usable version satisfies together with the request's own
  requirements and the constraints on that project is skipped when read: those hold in every
  solution, so it can never be part of one (this spares resolvelib whole rounds of backtracking).
- Constraints narrow `find_matches` only; they are never requirements, so they never add a package.
- A project that no index has gives no candidates (it is recorded; `_explain` turns it into
  ProjectNotFound if it is what made the resolution fail), so an older parent can still avoid it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import AbstractProvider

from venvd.dist import CoreMetadata, DistFile
from venvd.errors import ResolutionTimeout
from venvd.resolver._candidates import Problem, ProjectView, within_bounds
from venvd.resolver._model import Candidate, Req
from venvd.resolver._prefetch import BATCH_CAP, Prefetcher
from venvd.resolver._reporter import ResolveReporter
from venvd.resolver._types import PackageSource, ResolveOptions
from venvd.target import Target

if TYPE_CHECKING:
    from resolvelib.providers import Preference
    from resolvelib.structs import Matches, RequirementInformation

    Information = RequirementInformation[Req, Candidate]


_Entry = tuple[Req, "Marker | None", str]
# Requires-Dist of a metadata as resolver values, by the metadata object (held, so that its id stays
# its own): the same for every target, and metadata objects live in the service's memo across
# resolutions, so a fresh target converts none of them again (boto3 walks 3,000 of them).
_ENTRIES: dict[int, tuple[CoreMetadata, tuple[_Entry, ...]]] = {}
_ENTRIES_LIMIT = 20_000  # boto3 needs 3,000; the entries keep their metadata alive


def requirement_entries(metadata: CoreMetadata) -> tuple[_Entry, ...]:
    """`metadata`'s parsed requirements as (Req, marker, marker text); the text is "" without one."""
    known = _ENTRIES.get(id(metadata))
    if known is not None and known[0] is metadata:
        return known[1]
    entries = tuple((Req.from_requirement(r), r.marker, str(r.marker) if r.marker is not None else "")
                    for r in metadata.requirements())
    if len(_ENTRIES) >= _ENTRIES_LIMIT:
        _ENTRIES.clear()
    _ENTRIES[id(metadata)] = (metadata, entries)
    return entries


# The versions of a project's history that requirements match (pre-release policy given), by the
# history's tuple (held: `_Grouped.versions`, one per page and process) and the requirements: the
# same for every target, and a backtracking walk asks for a new range at each step (each boto3
# version names its own botocore range: 1,500 filters per resolution).
_FILTERED: dict[tuple[int, frozenset[Req], bool | None],
                tuple[tuple[Version, ...], tuple[Version, ...]]] = {}
_FILTERED_LIMIT = 20_000


def filtered(versions: tuple[Version, ...], reqs: frozenset[Req], combined: SpecifierSet,
             prereleases: bool | None) -> tuple[Version, ...]:
    """`combined.filter(versions, prereleases)` (`combined` being `reqs`' specifiers together),
    remembered per history and requirements."""
    key = (id(versions), reqs, prereleases)
    known = _FILTERED.get(key)
    if known is not None and known[0] is versions:
        return known[1]
    found = tuple(combined.filter(within_bounds(versions, combined), prereleases=prereleases))
    if len(_FILTERED) >= _FILTERED_LIMIT:
        _FILTERED.clear()
    _FILTERED[key] = (versions, found)
    return found


class Deadline:
    """A wall-time budget: `check()` raises ResolutionTimeout once `seconds` have passed."""

    def __init__(self, seconds: float, budget: float) -> None:
        self._at = time.monotonic() + seconds
        self.budget = budget

    def check(self) -> None:
        if time.monotonic() > self._at:
            raise ResolutionTimeout(
                f"the resolution was stopped after its budget of {self.budget:g} s (the "
                "resolution_timeout setting)", budget=self.budget)


class Provider(AbstractProvider[Req, Candidate, str]):
    def __init__(self, source: PackageSource, target: Target, options: ResolveOptions,
                 constraints: Mapping[NormalizedName, Sequence[Req]],
                 roots: Mapping[NormalizedName, Sequence[Req]],
                 reporter: ResolveReporter, deadline: Deadline | None = None) -> None:
        self._deadline = deadline
        self.source = source
        self.target = target
        self.options = options
        self.constraints = constraints
        self._reporter = reporter
        self._prefetcher = Prefetcher(source)
        self._projects: dict[NormalizedName, ProjectView | None] = {}
        self._metadata: dict[tuple[NormalizedName, Version], CoreMetadata] = {}
        self._rejected: dict[tuple[NormalizedName, Version], Problem] = {}
        self._roots = roots  # the request's own requirements, by project: in every solution
        self._doomed: dict[Candidate, Problem] = {}
        self._dropped: dict[tuple[NormalizedName, frozenset[NormalizedName]], set[Version]] = {}
        self._dependencies: dict[Candidate, tuple[Req, ...]] = {}
        self._announced: set[tuple[NormalizedName, Version]] = set()
        # get_preference and find_matches ask about the same sets of requirements over and over.
        self._matches: dict[tuple[NormalizedName, frozenset[Req]], tuple[Version, ...]] = {}
        self._preferences: dict[tuple[str, tuple[Information, ...]], Preference] = {}
        self._marker_answers: dict[tuple[str, frozenset[NormalizedName] | tuple[()]], bool] = {}

    # -- data access shared with _explain and _lock ----------------------------------------------
    def project(self, name: NormalizedName) -> ProjectView | None:
        if name not in self._projects:
            files = self.source.project_files(name)
            self._projects[name] = (None if files is None
                                    else ProjectView(name, files, self.target, self.options))
        return self._projects[name]

    def rejected(self, name: NormalizedName, version: Version,
                 extras: frozenset[NormalizedName] = frozenset()) -> Problem | None:
        """Why `version` (with `extras`) was dropped once its metadata was read, if it was."""
        return (self._rejected.get((name, version))
                or self._doomed.get(Candidate(name, version, extras)))

    def metadata(self, name: NormalizedName, version: Version) -> CoreMetadata:
        """Metadata already read for a candidate that find_matches yielded."""
        return self._metadata[(name, version)]

    def roots(self, name: NormalizedName) -> tuple[Req, ...]:
        """The request's own requirements on `name` (markers true for the target)."""
        return tuple(self._roots.get(name, ()))

    def all_reqs(self, name: NormalizedName, reqs: Iterable[Req]) -> tuple[Req, ...]:
        return (*reqs, *self.constraints.get(name, ()))

    def allow_yanked(self, version: Version, reqs: Iterable[Req]) -> bool:
        """PEP 592: a yanked version only for an exact pin the user wrote (a requirement of the
        request or a constraint), never for one that another package's metadata declares."""
        return any(r.pins_exactly(version) for r in reqs if r.is_exact and self._user_given(r))

    def _user_given(self, req: Req) -> bool:
        return req in self._roots.get(req.name, ()) or req in self.constraints.get(req.name, ())

    def matching_versions(self, name: NormalizedName, reqs: Iterable[Req]) -> tuple[Version, ...]:
        """Versions satisfying `reqs` (constraints included by the caller) under the pre-release
        policy, newest first, *possibly including versions without a usable file*: usability is
        judged lazily (`usable`), as the list is walked. The list equals the usable matches once
        those are taken out. Empty when no version is usable. Metadata is not consulted."""
        key = (name, frozenset(reqs))
        found = self._matches.get(key)
        if found is None:
            found = self._matches[key] = self._matching(name, key[1])
        return found

    def usable(self, name: NormalizedName, version: Version, reqs: Iterable[Req]) -> bool:
        """Whether `version` has a file usable on the target (yanked ones if `reqs` pin it)."""
        view = self.project(name)
        return view is not None and view.is_usable(version, self.allow_yanked(version, reqs))

    def usable_matches(self, name: NormalizedName, reqs: Iterable[Req]) -> tuple[Version, ...]:
        """`matching_versions` without the unusable versions (judges them all)."""
        reqs = tuple(reqs)
        return tuple(v for v in self.matching_versions(name, reqs) if self.usable(name, v, reqs))

    def _matching(self, name: NormalizedName, reqs: frozenset[Req]) -> tuple[Version, ...]:
        view = self.project(name)
        if view is None:
            return ()
        versions = view.versions
        pins = [r.pin for r in reqs if r.pin is not None]
        if pins:
            versions = tuple(v for v in versions if all(v == p for p in pins))
        combined = SpecifierSet()
        for r in reqs:
            combined &= r.specifier
        prereleases = self._prereleases(name, reqs, pins)
        # The filter's answer for a set of versions depends on the set only through its pre-release
        # fallback (pre-releases count when no final release matches). So the matches among all
        # versions, less the unusable ones, are the matches among the usable versions as soon as
        # one of them is usable: then the judging can wait. Only when none is (rare) are all the
        # candidates judged, and filtered again as they are, to keep the fallback exact.
        found = (filtered(versions, reqs, combined, prereleases) if not pins
                 else tuple(combined.filter(within_bounds(versions, combined),
                                            prereleases=prereleases)))
        if any(self.usable(name, v, reqs) for v in found):
            return found
        usable = [v for v in within_bounds(versions, combined) if self.usable(name, v, reqs)]
        return tuple(combined.filter(usable, prereleases=prereleases))

    def _prereleases(self, name: NormalizedName, reqs: frozenset[Req],
                     pins: list[Version]) -> bool | None:
        """The pre-release policy for `name` as `SpecifierSet.filter` takes it: True (allowed),
        False (never) or None (PEP 440: when named or when nothing else fits)."""
        mode = "allow" if self.options.prereleases else self.options.prerelease
        if mode == "pep440":
            return True if pins else None
        if mode in ("allow", "disallow"):
            return mode == "allow"
        view = self.project(name)
        # Every usable version a pre-release: judged newest first, up to the first usable final.
        necessary = view is not None and not any(
            not v.is_prerelease and view.is_usable(v, allow_yanked=False) for v in view.versions)
        explicit = any(r.specifier.prereleases or (r.pin is not None and r.pin.is_prerelease)
                       for r in reqs if self._user_given(r))
        if mode == "if-necessary":
            return necessary
        if mode == "explicit":
            return explicit
        return necessary or explicit  # if-necessary-or-explicit

    # -- resolvelib contract ------------------------------------------------------------------
    def identify(self, requirement_or_candidate: Req | Candidate) -> str:
        return requirement_or_candidate.identifier

    def narrow_requirement_selection(
        self, identifiers: Iterable[str], resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[Information]],
        backtrack_causes: Sequence[Information],
    ) -> Iterable[str]:
        if self._deadline is not None:
            self._deadline.check()
        # As pip: after a backtrack, work on what caused it first; the problem is likely there.
        identifiers = list(identifiers)
        causes: set[str] = set()
        for info in backtrack_causes:
            causes.add(info.requirement.identifier)
            if info.parent is not None:
                causes.add(info.parent.identifier)
        narrowed = [i for i in identifiers if i in causes] or identifiers
        if len(narrowed) > 1:
            # Pick the preferred one here, as resolvelib would with get_preference: it would wrap
            # every call in new mapping objects, a cost paid once per unpinned identifier and
            # round, so that a request of N projects took time in N squared.
            narrowed = [min(narrowed, key=lambda i: self._preference(i, information))]
        return narrowed

    def get_preference(
        self, identifier: str, resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[Information]],
        backtrack_causes: Sequence[Information],
    ) -> Preference:
        return self._preference(identifier, information)

    def _preference(self, identifier: str,
                    information: Mapping[str, Iterator[Information]]) -> Preference:
        # Asked about every unpinned identifier in every round, and most of them have not
        # changed since the last: remembered by (identifier, information).
        infos = tuple(information[identifier])
        key = (identifier, infos)
        known = self._preferences.get(key)
        if known is not None:
            return known
        reqs = tuple(i.requirement for i in infos)
        pinned = any(r.is_exact for r in reqs)
        requested = any(i.parent is None for i in infos)
        name = reqs[0].name if reqs else canonicalize_name(identifier.split("[")[0])
        count = len(self.matching_versions(name, self.all_reqs(name, reqs)))
        # Lower sorts first: exact pins, then the user's own requests, then the most constrained;
        # the identifier last so that ties never depend on dict or set order.
        preference = (not pinned, not requested, count, identifier)
        self._preferences[key] = preference
        return preference

    def find_matches(self, identifier: str, requirements: Mapping[str, Iterator[Req]],
                     incompatibilities: Mapping[str, Iterator[Candidate]]) -> Matches[Candidate]:
        if self._deadline is not None:
            self._deadline.check()
        reqs = list(requirements[identifier])
        if not reqs:
            return []
        name, extras = reqs[0].name, reqs[0].extras
        all_reqs = self.all_reqs(name, reqs)
        versions = self.matching_versions(name, all_reqs)
        if not versions:
            return []
        # Read now: resolvelib's mappings change as it goes on. The rest is lazy, so that the
        # long candidate lists of a backtracking resolution cost only what is walked.
        bad = {c.version for c in incompatibilities[identifier]}
        exact = [r for r in all_reqs if r.is_exact]
        return lambda: self._iter_candidates(name, extras, versions, bad, exact)

    def is_satisfied_by(self, requirement: Req, candidate: Candidate) -> bool:
        return requirement.allows(candidate.version)

    def get_dependencies(self, candidate: Candidate) -> Iterable[Req]:
        known = self._dependencies.get(candidate)
        if known is not None:
            return known
        if self._deadline is not None:
            self._deadline.check()
        metadata = self._metadata[(candidate.name, candidate.version)]
        deps: list[Req] = []
        extras = candidate.extras
        if extras:
            deps.append(Req.pinned(candidate.name, candidate.version))
        for dep, marker, marker_text in requirement_entries(metadata):
            if marker is None:
                if not extras:
                    deps.append(dep)
                # The base candidate already carries what applies without extras.
                continue
            if not self._holds(marker, marker_text, extras):
                continue
            if extras and self._holds(marker, marker_text, ()):
                continue
            deps.append(dep)
        result = tuple(deps)
        self._dependencies[candidate] = result
        return result

    def _holds(self, marker: Marker, text: str, extras: frozenset[NormalizedName] | tuple[()]) -> bool:
        """`marker` for the target and `extras`, remembered by the marker's text: thousands of
        metadata (botocore's history) repeat a few markers, each parsed into its own object."""
        key = (text, extras)
        answer = self._marker_answers.get(key)
        if answer is None:
            answer = self._marker_answers[key] = self.target.evaluate(marker, extras)
        return answer

    # -- candidates and metadata --------------------------------------------------------------
    def _iter_candidates(self, name: NormalizedName, extras: frozenset[NormalizedName],
                         versions: tuple[Version, ...], bad: set[Version],
                         exact: list[Req]) -> Iterator[Candidate]:
        # Versions dropped for good (metadata rejected, or doomed with these extras): a
        # backtracking resolution walks the same long list again in every round.
        dropped = self._dropped.setdefault((name, extras), set())
        for index, version in enumerate(versions):
            if self._deadline is not None:
                self._deadline.check()
            if version in bad or version in dropped or not self.usable(name, version, exact):
                continue
            candidate = Candidate(name, version, extras)
            ahead, older = self._prefetcher.trying(name, version)
            if ahead:
                self._prefetch_ahead(name, version, versions[index + 1:], bad, exact, ahead,
                                     older)
            if not self._load(name, version, self.allow_yanked(version, exact)):
                if (name, version) in self._rejected:
                    dropped.add(version)
                continue
            if self._dooms(candidate):
                dropped.add(version)
                continue
            # Hinted only now: a doomed candidate's dependencies are never read.
            self._prefetch_first_choices(self._dependencies[candidate])
            yield candidate

    def _dooms(self, candidate: Candidate, nested: bool = False) -> bool:
        """Whether a dependency of `candidate` can never be met: no usable version satisfies it
        together with the request's own requirements and the constraints on that project, which
        hold in every solution. Such a candidate is dropped before resolvelib tries it, which
        spares whole rounds of backtracking (boto3 with `urllib3<1.25.4`: each botocore version
        is ruled out once, instead of once per boto3 version that allows it).

        One level further, for a project some of whose versions were already ruled out so (and
        only then: elsewhere it would read metadata ahead of the resolver): when every usable
        version satisfying the dependency is itself ruled out, the candidate is too (boto3 whose
        botocore range needs a newer urllib3 costs no round of resolvelib's backtracking)."""
        for dep in self.get_dependencies(candidate):
            if self.project(dep.name) is None:
                continue  # resolvelib meets it, and the error names who required the project
            fixed = self._roots.get(dep.name, ())
            constraints = self.constraints.get(dep.name, ())
            reqs = (dep, *fixed, *constraints)
            versions = self.matching_versions(dep.name, reqs)
            if versions and (nested or self._viable(dep, versions, reqs)):
                continue  # not empty: some version is usable (see matching_versions)
            if versions:
                problem = Problem("dependency", f"requires {dep.text}, and every such version "
                                  "is ruled out by its own dependencies", dependency=dep)
                self._doomed[candidate] = problem
                self._reporter.rejecting(candidate.name, str(candidate.version), problem.detail)
                return True
            others = [f"the request requires {r.text}" for r in fixed if r.specifier]
            others += [f"the constraints require {c.text}" for c in constraints]
            why = (" while " + " and ".join(others)) if others else (
                ", which no usable version satisfies")
            problem = Problem("dependency", f"requires {dep.text}{why}", dependency=dep)
            self._doomed[candidate] = problem
            self._reporter.rejecting(candidate.name, str(candidate.version), problem.detail)
            return True
        return False

    def _viable(self, dep: Req, versions: tuple[Version, ...], reqs: tuple[Req, ...]) -> bool:
        """Whether some version in `versions` (usable matches of `dep`) may still be chosen: true
        unless versions of `dep`'s project were already ruled out by their dependencies and each
        of `versions` is (its metadata read, newest first, until one is not)."""
        dropped = self._dropped.get((dep.name, dep.extras))
        if not dropped:
            return True
        exact = [r for r in reqs if r.is_exact]
        self._prefetch_unread(dep.name, versions, dropped, exact)
        for version in versions:
            if version in dropped or not self.usable(dep.name, version, exact):
                continue
            if not self._load(dep.name, version, self.allow_yanked(version, exact)):
                if (dep.name, version) in self._rejected:
                    dropped.add(version)
                continue
            if not self._dooms(Candidate(dep.name, version, dep.extras), nested=True):
                return True
            dropped.add(version)
        return False

    def _prefetch_unread(self, name: NormalizedName, versions: Sequence[Version],
                         dropped: set[Version], exact: list[Req]) -> None:
        """Announce the metadata of up to BATCH_CAP versions about to be read one by one: those
        of `versions`, then older ones (a parent walked down its history asks for them next)."""
        view = self.project(name)
        if view is None or not versions:
            return
        # A window of the history from here down, so that walking down it costs a window per step.
        window: Iterator[Version] = itertools.islice(
            itertools.chain(versions, view.older_than(versions[-1])), 2 * BATCH_CAP)
        # Still within the last batch: the next version to read was announced (or read) already,
        # so this step announces nothing until the walk gets past it (botocore: 1,500 steps).
        first = next((v for v in window if v not in dropped), None)
        if first is None or (name, first) in self._metadata or (name, first) in self._announced:
            return
        window = itertools.chain((first,), window)
        files: list[DistFile] = []
        for version in window:
            if len(files) >= BATCH_CAP:
                break
            key = (name, version)
            if (version in dropped or key in self._metadata or key in self._announced
                    or not self.usable(name, version, exact)):
                continue
            self._announced.add(key)
            file = view.metadata_file(version, self.allow_yanked(version, exact))
            if file is not None:
                files.append(file)
        self._prefetcher.announce(files)

    def _load(self, name: NormalizedName, version: Version, allow_yanked: bool) -> bool:
        key = (name, version)
        if key in self._metadata:
            return True
        if key in self._rejected:
            return False
        view = self.project(name)
        file = view.metadata_file(version, allow_yanked) if view is not None else None
        if file is None:
            return False
        metadata = self.source.metadata(file)
        problem: Problem | None = None
        if canonicalize_name(metadata.name) != name or metadata.version != version:
            problem = Problem("metadata", f"is named {metadata.name} {metadata.version} in the "
                              f"metadata of {file.filename}")
        elif not self.target.allows_python(metadata.requires_python):
            problem = Problem("python", f"requires Python {metadata.requires_python}",
                              requires_python=metadata.requires_python)
        if problem is not None:
            self._rejected[key] = problem
            self._reporter.rejecting(name, str(version), problem.detail)
            return False
        self._metadata[key] = metadata
        return True

    def _prefetch_ahead(self, name: NormalizedName, current: Version, later: Sequence[Version],
                        bad: set[Version], exact: list[Req], count: int, older: bool) -> None:
        view = self.project(name)
        if view is None:
            return
        chosen: list[tuple[Version, bool]] = []
        seen: set[Version] = set()
        for version in later:
            if len(chosen) >= count:
                break
            if version not in bad:
                chosen.append((version, self.allow_yanked(version, exact)))
                seen.add(version)
        if older and len(chosen) < count:
            # The current list may be one pinned version; the next tries are likely the ones
            # just below, within what the constraints allow.
            floor = min(later[-1], current) if later else current
            constraints = self.constraints.get(name, ())
            for version in view.versions:
                if len(chosen) >= count:
                    break
                if version < floor and version not in seen and all(
                        c.allows(version) for c in constraints) and view.is_usable(version, False):
                    chosen.append((version, False))
        files = []
        for version, allow_yanked in chosen:
            key = (name, version)
            if key in self._metadata or key in self._rejected or key in self._announced:
                continue
            self._announced.add(key)
            file = view.metadata_file(version, allow_yanked)
            if file is not None:
                files.append(file)
        self._prefetcher.announce(files)

    def _prefetch_first_choices(self, deps: Sequence[Req]) -> None:
        """Announce the newest matching version of every new dependency at once: resolvelib
        reads them one by one right after this, and the source can fetch them side by side."""
        files: list[DistFile] = []
        for req in deps:
            view = self.project(req.name)
            if view is None:
                continue
            reqs = self.all_reqs(req.name, (req,))
            first = next((v for v in self.matching_versions(req.name, reqs)
                          if self.usable(req.name, v, reqs)), None)
            if first is None or (req.name, first) in self._metadata:
                continue
            file = view.metadata_file(first, self.allow_yanked(first, reqs))
            if file is not None:
                files.append(file)
        self._prefetcher.announce(files)
