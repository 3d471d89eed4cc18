"""`resolve`: requirements + target + package source → Lock, or a venvd error explaining why not."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from resolvelib import ResolutionImpossible as _Impossible
from resolvelib import ResolutionTooDeep, Resolver
from resolvelib.resolvers import ResolverException

from venvd.errors import InvalidRequirement, ResolutionImpossible
from venvd.lock import Lock
from venvd.resolver._direct import DirectFile, DirectSource, check_direct_requirements
from venvd.resolver._explain import explain
from venvd.resolver._lock import build_lock
from venvd.resolver._model import Candidate, Req
from venvd.resolver._provider import Deadline, Provider
from venvd.resolver._reporter import NullReporter, ReporterAdapter, ResolveReporter
from venvd.resolver._types import PackageSource, ResolveOptions
from venvd.target import Target

_DEFAULTS = ResolveOptions()


def resolve(requirements: Sequence[Requirement], target: Target, source: PackageSource, *,
            constraints: Sequence[Requirement] = (), options: ResolveOptions = _DEFAULTS,
            reporter: ResolveReporter | None = None, max_rounds: int = 200_000,
            timeout: float | None = None, budget: float | None = None,
            direct: Mapping[NormalizedName, DirectFile] | None = None) -> Lock:
    """Pin `requirements` (and everything they need) for `target`, newest versions first.

    Markers, extras, Requires-Python and wheel tags are evaluated for `target`, never for the host;
    requirements whose marker is false for the target are left out. Constraints narrow versions but
    add no package. The same inputs (and the same source contents) always give the same Lock.

    A direct reference (``name @ URL``) is resolved only with its file and metadata in `direct`
    (by canonical name): that file is then the only candidate of its project (`_direct`).

    Raises InvalidRequirement for a direct URL requirement whose file `direct` does not give, or
    for a URL constraint,
    ProjectNotFound when a needed project is on no index (`details["required_by"]` names who
    needed it), ResolutionImpossible with `causes` in words when no set of versions fits (also
    after `max_rounds`), NoCompatibleDistribution when a pin has no usable file with a sha256,
    ResolutionTimeout (naming `budget`, default `timeout`) once `timeout` seconds have passed (the
    provider checks the clock on each of resolvelib's calls, so the resolution stops there), and
    whatever UpstreamError the source raises.
    """
    for given in constraints:
        if given.url:
            raise InvalidRequirement(str(given), "a constraint cannot be a direct reference")
    direct = direct or {}
    check_direct_requirements(
        [r for r in requirements if r.url and target.evaluate(r.marker)], direct)
    if direct:
        source = DirectSource(source, direct)
    roots = [Req.from_requirement(r) for r in requirements if target.evaluate(r.marker)]
    by_name: dict[NormalizedName, list[Req]] = {}
    for c in constraints:
        if target.evaluate(c.marker):
            con = Req.from_requirement(c)
            by_name.setdefault(con.name, []).append(con)
    roots_by_name: dict[NormalizedName, list[Req]] = {}
    for root in roots:
        roots_by_name.setdefault(root.name, []).append(root)
    chosen_reporter = reporter if reporter is not None else NullReporter()
    deadline = None if timeout is None else Deadline(timeout, budget if budget is not None else timeout)
    provider = Provider(source, target, options, by_name, roots_by_name, chosen_reporter, deadline)
    resolver: Resolver[Req, Candidate, str] = Resolver(provider, ReporterAdapter(chosen_reporter))
    try:
        result = resolver.resolve(roots, max_rounds=max_rounds)
    except _Impossible as exc:
        raise explain(list(exc.causes), provider) from None
    except ResolutionTooDeep:
        raise ResolutionImpossible(
            f"the resolver gave up after {max_rounds} rounds of backtracking",
            causes=[f"more than {max_rounds} resolution rounds were needed"]) from None
    except ResolverException as exc:  # a provider inconsistency: a bug, but never leak resolvelib
        raise ResolutionImpossible(f"the resolver failed: {exc}", causes=[str(exc)]) from None
    return build_lock(result.mapping, result.criteria, provider, requirements, constraints)
