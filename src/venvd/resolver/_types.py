"""What the resolver consumes: a package source and the options of one resolution.

`PackageSource` is the seam between the resolver and the world. The service implements it over the
index and the store; tests implement it over an in-memory description. The resolver never does I/O
itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from packaging.utils import NormalizedName

from venvd.dist import CoreMetadata, DistFile

ALL = ":all:"


class PackageSource(Protocol):
    """Files and metadata of projects, as the configured indexes see them."""

    def project_files(self, name: NormalizedName) -> Sequence[DistFile] | None:
        """Every file of `name` (any version, any platform); None when no index has it."""
        ...

    def metadata(self, file: DistFile) -> CoreMetadata:
        """Core metadata of `file`. May raise `venvd.errors.UpstreamError` (or a subclass)."""
        ...

    def prefetch(self, files: Sequence[DistFile]) -> None:
        """A hint: `metadata` will be asked for these soon; fetch them concurrently. May no-op."""
        ...


PRERELEASE_MODES = ("pep440", "disallow", "allow", "if-necessary", "explicit",
                    "if-necessary-or-explicit")


@dataclasses.dataclass(frozen=True)
class ResolveOptions:
    """Options that change which files and versions are candidates.

    `only_binary` / `no_binary` hold canonical project names or ":all:". A name given explicitly
    wins over ":all:" in the other set (`no_binary={":all:"}, only_binary={"x"}` allows x's wheels).
    """

    prereleases: bool = False
    exclude_newer: datetime | None = None
    # Pre-release policy: "pep440" (the default; see the provider's docstring) or one of uv's
    # modes ("disallow", "allow", "if-necessary", "explicit", "if-necessary-or-explicit").
    # `prereleases=True` means "allow" whatever this says.
    prerelease: str = "pep440"
    only_binary: frozenset[str] = frozenset()
    no_binary: frozenset[str] = frozenset()

    def wheels_allowed(self, name: NormalizedName) -> bool:
        if name in self.no_binary:
            return False
        return not (ALL in self.no_binary and name not in self.only_binary)

    def sdists_allowed(self, name: NormalizedName) -> bool:
        if name in self.only_binary:
            return False
        return not (ALL in self.only_binary and name not in self.no_binary)
