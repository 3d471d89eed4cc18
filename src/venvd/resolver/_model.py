"""The resolver's requirement and candidate values (resolvelib's RT and CT), keyed by identifier
(KT).

An identifier is the canonical project name, or `name[extra1,extra2]` (extras canonical and sorted)
for a requirement with extras. Following resolvelib's extras pattern, a candidate for `a[x]`
depends on the base `a` at exactly the same version, so the base and its extras always agree on one
version.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

_EXACT = ("==", "===")


def identifier_for(name: NormalizedName, extras: Iterable[str]) -> str:
    extras = sorted(extras)
    return f"{name}[{','.join(extras)}]" if extras else name


@dataclasses.dataclass(frozen=True)
class Req:
    """A requirement on one identifier: a specifier, or an exact version `pin` (extras → base)."""

    name: NormalizedName
    extras: frozenset[NormalizedName]
    specifier: SpecifierSet
    text: str  # as people wrote it, without the marker: used in explanations
    pin: Version | None = None

    @classmethod
    def from_requirement(cls, req: Requirement) -> Req:
        """Convert a packaging Requirement whose marker was already evaluated (a URL is ignored)."""
        extras = frozenset(canonicalize_name(e) for e in req.extras)
        shown = f"{req.name}[{','.join(sorted(req.extras))}]" if req.extras else req.name
        return cls(name=canonicalize_name(req.name), extras=extras, specifier=req.specifier,
                   text=f"{shown}{req.specifier}")

    @classmethod
    def pinned(cls, name: NormalizedName, version: Version) -> Req:
        return cls(name=name, extras=frozenset(), specifier=SpecifierSet(),
                   text=f"{name}=={version}", pin=version)

    @property
    def identifier(self) -> str:
        return identifier_for(self.name, self.extras)

    def allows(self, version: Version) -> bool:
        """Whether `version` satisfies this (the pre-release policy is find_matches' job)."""
        if self.pin is not None:
            return version == self.pin
        return self.specifier.contains(version, prereleases=True)

    @property
    def is_exact(self) -> bool:
        """An exact pin: `==` without a wildcard, `===`, or an extras → base pin."""
        return self.pin is not None or any(
            s.operator in _EXACT and not s.version.endswith(".*") for s in self.specifier)

    def pins_exactly(self, version: Version) -> bool:
        """PEP 592: an `==` (no wildcard) or `===` matching `version` may select it if yanked."""
        if self.pin is not None:
            return version == self.pin
        return any(
            spec.operator in _EXACT and not spec.version.endswith(".*")
            and spec.contains(version, prereleases=True)
            for spec in self.specifier
        )


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One version of one identifier; files and metadata live in the provider."""

    name: NormalizedName
    version: Version
    extras: frozenset[NormalizedName] = frozenset()

    @property
    def identifier(self) -> str:
        return identifier_for(self.name, self.extras)

    def __str__(self) -> str:
        return f"{self.identifier} {self.version}"
