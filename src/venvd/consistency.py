"""`dependency_problems`: is the set of installed distributions consistent, for the target?

Like ``pip check``, from the Requires-Dist each installed METADATA carries (read by the build from
the wheel it installs, so a client need not parse 500 METADATA files again): every requested
project is installed in a version its requirement allows, and every installed distribution's
requirements (with the extras asked of it, transitively) are satisfied, markers evaluated for the
environment's target, never for the host. The build records the answer in the manifest; the
client reports it (a lock posted by a client is built as given, consistent or not), and checks an
archive of an older build, whose manifest has no answer, with the same function over the venv's
installed metadata (`venvd.materialize`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from venvd.target import Target

__all__ = ["Installed", "dependency_problems"]

# canonical name -> (version, Requires-Dist lines)
Installed = Mapping[str, tuple[str, Iterable[str]]]


def dependency_problems(installed: Installed, target: Target, roots: Iterable[str]) -> list[str]:
    """What is missing or in a wrong version, sorted (empty when consistent); `roots` are the
    request's requirements (unparsable lines are skipped: the lock was made from them)."""
    problems: list[str] = []
    queue: list[tuple[str, frozenset[str]]] = [(name, frozenset()) for name in sorted(installed)]
    for text in roots:
        req = _parse(text)
        if req is None or not target.evaluate(req.marker):
            continue
        problem = _unsatisfied(req, installed, "the request")
        if problem:
            problems.append(problem)
        else:
            queue.append((canonicalize_name(req.name), frozenset(req.extras)))
    seen: set[tuple[str, frozenset[str]]] = set()
    while queue:
        name, extras = queue.pop()
        if (name, extras) in seen or name not in installed:
            continue
        seen.add((name, extras))
        version, requires = installed[name]
        for text in requires:
            req = _parse(text)
            if req is None or not target.evaluate(req.marker, extras):
                continue
            problem = _unsatisfied(req, installed, f"{name} {version}")
            if problem:
                problems.append(problem)
            elif req.extras:
                queue.append((canonicalize_name(req.name), frozenset(req.extras)))
    return sorted(set(problems))


def _parse(text: str) -> Requirement | None:
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


def _unsatisfied(req: Requirement, installed: Installed, who: str) -> str | None:
    found = installed.get(canonicalize_name(req.name))
    spec = f"{req.name}{req.specifier}"
    if found is None:
        return f"{who} requires {spec}, which is not installed"
    if req.specifier and not req.specifier.contains(found[0], prereleases=True):
        return f"{who} requires {spec}, but {found[0]} is installed"
    return None
