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


@dataclasses.dataclass(frozen=True, eq=False)
class Req:
    """A requirement on one identifier: a specifier, or an exact version `pin` (extras → base).

    Equality and hash use the written text (name, extras, specifier as written) and the pin:
    resolvelib and our caches compare requirements constantly, and hashing a SpecifierSet
    normalizes every version in it each time.
    """

    name: NormalizedName
    extras: frozenset[NormalizedName]
    specifier: SpecifierSet
    text: str  # as people wrote it, without the marker: used in explanations
    pin: Version | None = None
    # str(specifier), when the caller has it: packaging builds it anew on every call.
    specifier_text: dataclasses.InitVar[str | None] = None
    identifier: str = dataclasses.field(init=False)
    is_exact: bool = dataclasses.field(init=False)  # `==` without wildcard, `===`, or a pin
    _hash: int = dataclasses.field(init=False, repr=False)
    _specifier_text: str = dataclasses.field(init=False, repr=False)
    _allowed: dict[Version, bool] = dataclasses.field(init=False, repr=False)

    def __post_init__(self, specifier_text: str | None) -> None:
        exact = self.pin is not None or any(
            s.operator in _EXACT and not s.version.endswith(".*") for s in self.specifier)
        object.__setattr__(self, "identifier", identifier_for(self.name, self.extras))
        object.__setattr__(self, "is_exact", exact)
        object.__setattr__(self, "_hash", hash((self.identifier, self.text, self.pin)))
        object.__setattr__(self, "_specifier_text", specifier_text if specifier_text is not None
                           else str(self.specifier))
        object.__setattr__(self, "_allowed", {})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Req):
            return NotImplemented
        return (self._hash == other._hash and self.identifier == other.identifier
                and self.text == other.text and self.pin == other.pin)

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def from_requirement(cls, req: Requirement) -> Req:
        """Convert a packaging Requirement whose marker was already evaluated (a URL is ignored)."""
        extras = frozenset(canonicalize_name(e) for e in req.extras)
        shown = f"{req.name}[{','.join(sorted(req.extras))}]" if req.extras else req.name
        specifier_text = str(req.specifier)
        return cls(name=canonicalize_name(req.name), extras=extras, specifier=req.specifier,
                   text=f"{shown}{specifier_text}", specifier_text=specifier_text)

    @classmethod
    def pinned(cls, name: NormalizedName, version: Version) -> Req:
        return cls(name=name, extras=frozenset(), specifier=SpecifierSet(),
                   text=f"{name}=={version}", pin=version)

    def allows(self, version: Version) -> bool:
        """Whether `version` satisfies this (the pre-release policy is find_matches' job).

        resolvelib asks this of every requirement on every pinned identifier in every round:
        answers are remembered per version."""
        if self.pin is not None:
            return version == self.pin
        if not self._specifier_text:
            return True
        answers = self._allowed
        answer = answers.get(version)
        if answer is None:
            answer = answers[version] = self.specifier.contains(version, prereleases=True)
        return answer

    def pins_exactly(self, version: Version) -> bool:
        """PEP 592: an `==` (no wildcard) or `===` matching `version` may select it if yanked."""
        if not self.is_exact:
            return False
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
    identifier: str = dataclasses.field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "identifier", identifier_for(self.name, self.extras))

    def __str__(self) -> str:
        return f"{self.identifier} {self.version}"
