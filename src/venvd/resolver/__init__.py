"""The resolver layer: fuzzy requirements + a target → an exactly pinned, hashed Lock.

A resolvelib provider over a `PackageSource` (the service's index + store, or an in-memory source
in tests). Markers, extras, Requires-Python and wheel tags are always evaluated for the given
`venvd.target.Target`, never for the host. Failures are explained in words
(`ResolutionImpossible.causes`).

    target = Target.from_shorthand("2.7.6", "linux_x86_64")
    lock = resolve([Requirement("django>=1.8")], target, source)
"""

from __future__ import annotations

from venvd.resolver._reporter import NullReporter, ResolveReporter
from venvd.resolver._resolve import resolve
from venvd.resolver._types import PRERELEASE_MODES, PackageSource, ResolveOptions

__all__ = ["PRERELEASE_MODES", "NullReporter", "PackageSource", "ResolveOptions", "ResolveReporter",
           "resolve"]
