"""Turn resolvelib's failure causes into venvd errors with explanations in words.

resolvelib reports a failure as the requirement informations (requirement, parent) of the
identifiers that could not be satisfied. For each project among them we say who required what ("a
1.0 requires c<2", "the request requires x>=3", "the constraints require c<2"), then why no version
is left when the reason is not the requirements themselves: none exists in that range, none is
usable for the target (Requires-Python, tags, yanked, exclude-newer, only-/no-binary), or its
metadata disqualified it. A project on no index is reported as ProjectNotFound, naming who required
it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName
from packaging.version import Version
from resolvelib.structs import RequirementInformation

from venvd.errors import ProjectNotFound, ResolutionImpossible, VenvdError
from venvd.resolver._candidates import Problem, ProjectView, target_tag_text
from venvd.resolver._model import Candidate, Req
from venvd.resolver._provider import Provider
from venvd.resolver._reporter import describe

if TYPE_CHECKING:
    Information = RequirementInformation[Req, Candidate]

_LISTED = 5  # versions named in one sentence before "and N more"
_MAX_DEPTH = 3  # chains of never-satisfiable dependencies followed in an explanation

_PRERELEASE = Problem("prerelease", "is a pre-release (allowed with --pre, with a specifier naming "
                      "a pre-release, or when no final release matches)")


def unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def explain(causes: Sequence[Information], provider: Provider) -> VenvdError:
    """The error to raise for a failed resolution; never raises itself."""
    groups: dict[NormalizedName, list[Information]] = {}
    for info in causes:
        groups.setdefault(info.requirement.name, []).append(info)
    for name, infos in groups.items():
        if provider.project(name) is None:
            error = ProjectNotFound(name)
            parents = unique([str(i.parent) for i in infos if i.parent is not None])
            if parents:
                error.details["required_by"] = parents
            return error
    lines: list[str] = []
    for name, infos in groups.items():
        lines.extend(_explain_project(name, infos, provider))
    lines = unique(lines)
    if not lines:
        lines = ["the resolver found no consistent set of versions"]
    return ResolutionImpossible("no set of versions satisfies the request: " + "; ".join(lines),
                                causes=lines)


def _explain_project(name: NormalizedName, infos: list[Information], provider: Provider,
                     depth: int = 0) -> list[str]:
    view = provider.project(name)
    assert view is not None  # checked by the caller
    constraints = tuple(provider.constraints.get(name, ()))
    reqs = (*(i.requirement for i in infos), *constraints)
    lines = [describe(i) for i in infos]
    lines += [f"the constraints require {c.text}" for c in constraints]
    if not view.versions:
        return [*lines, f"{name} has no distribution files on the index"]
    in_range = [v for v in view.versions if all(r.allows(v) for r in reqs)]
    if not in_range:
        # If one requirement alone matches nothing, what exists is the useful fact; otherwise the
        # requirements contradict each other and the chains above say it all.
        if any(not any(r.allows(v) for v in view.versions) for r in reqs):
            lines.append(f"available versions of {name}: {_listing(view.versions)}")
        return lines
    extras = infos[0].requirement.extras
    candidates = [v for v in provider.matching_versions(name, reqs)
                  if provider.rejected(name, v, extras) is None]
    if candidates:
        return lines  # versions exist and are usable: a genuine conflict between the chains
    problems = [(v, _problem(provider, view, v, reqs, extras)) for v in in_range]
    if depth < _MAX_DEPTH and all(p.dependency is not None for _, p in problems):
        # Every version needs something that can never be had: follow that chain down.
        for version, problem in problems[:_LISTED]:
            assert problem.dependency is not None
            parent = Candidate(name, version, extras)
            chain = [RequirementInformation(problem.dependency, parent)]
            chain += [RequirementInformation(r, None) for r in provider.roots(
                problem.dependency.name) if r.specifier or r.pin]
            lines += _explain_project(problem.dependency.name, chain, provider, depth + 1)
        return lines
    return [*lines, _summarize(infos[0].requirement.identifier, problems, provider)]


def _problem(provider: Provider, view: ProjectView, version: Version, reqs: tuple[Req, ...],
             extras: frozenset[NormalizedName]) -> Problem:
    rejected = provider.rejected(view.name, version, extras)
    if rejected is not None:
        return rejected
    return view.problem(version, provider.allow_yanked(version, reqs)) or _PRERELEASE


def _summarize(name: str, problems: list[tuple[Version, Problem]], provider: Provider) -> str:
    kinds = {p.kind for _, p in problems}
    newest, first = problems[0]
    target = provider.target
    if kinds == {"python"}:
        python = target.marker_environment["python_full_version"]
        return (f"no version of {name} satisfies Requires-Python for Python {python} "
                f"(newest {name} {newest} requires {first.requires_python})")
    if kinds == {"tags"}:
        return (f"no version of {name} has a file compatible with the target "
                f"({target_tag_text(target)})")
    if kinds == {"yanked"}:
        return (f"every matching version of {name} is yanked (only an exact == or === pin in "
                "the request or a constraint selects a yanked version)")
    if kinds == {"newer"}:
        limit = provider.options.exclude_newer
        return (f"no matching version of {name} was uploaded before "
                f"{limit.isoformat() if limit else '?'}")
    if kinds == {"format"}:
        return f"no version of {name} has a file allowed by the only-binary/no-binary options"
    shown = [f"{name} {v} {p.detail}" for v, p in problems[:_LISTED]]
    more = len(problems) - _LISTED
    tail = f", and {more} more" if more > 0 else ""
    return f"no version of {name} can be used: {', '.join(shown)}{tail}"


def _listing(versions: Sequence[Version]) -> str:
    shown = ", ".join(str(v) for v in versions[:_LISTED])
    more = len(versions) - _LISTED
    return f"{shown} and {more} more" if more > 0 else shown
