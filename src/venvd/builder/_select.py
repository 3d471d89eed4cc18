"""Which file of a pin to install: the best compatible wheel for the target, else the sdist.

"Best" is the lowest `Target.tag_rank` (the target's most preferred tag); ties go to the file name
so the choice is deterministic. An sdist is chosen only when no wheel fits and builds are allowed.
"""

from __future__ import annotations

import dataclasses

from venvd.dist import FileKind, parse_dist_filename
from venvd.errors import NoCompatibleDistribution
from venvd.lock import LockedFile, LockedPackage
from venvd.target import Target

__all__ = ["Choice", "choose_file"]


@dataclasses.dataclass(frozen=True)
class Choice:
    package: LockedPackage
    file: LockedFile
    kind: FileKind


def choose_file(package: LockedPackage, target: Target, *, no_build: bool) -> Choice:
    """The file to install for `package`; raises NoCompatibleDistribution naming the package."""
    if not target.allows_python(package.requires_python):
        raise NoCompatibleDistribution(
            f"{package.name} {package.version} requires Python {package.requires_python}, "
            f"the target has {target.python_full_version}", package=package.name)
    wheels: list[tuple[int, str, LockedFile]] = []
    sdists: list[LockedFile] = []
    for file in package.files:
        parsed = parse_dist_filename(file.filename)
        if parsed is None:
            continue
        _name, _version, kind, tags = parsed
        if kind == "wheel":
            rank = target.tag_rank(tags)
            if rank is not None:
                wheels.append((rank, file.filename, file))
        else:
            sdists.append(file)
    if wheels:
        return Choice(package, min(wheels, key=lambda w: (w[0], w[1]))[2], "wheel")
    if sdists and not no_build:
        # .tar.gz (PEP 625) before legacy formats, then by name.
        best = min(sdists, key=lambda f: (not f.filename.endswith(".tar.gz"), f.filename))
        return Choice(package, best, "sdist")
    best_tag = str(target.compatible_tags[0]) if target.compatible_tags else "?"
    if sdists:
        reason = "and building from the sdist is disabled on this server (--no-build)"
    else:
        reason = "and it has no sdist to build from"
    raise NoCompatibleDistribution(
        f"{package.name} {package.version} has no wheel compatible with the target "
        f"(most preferred tag {best_tag}) {reason}", package=package.name)
