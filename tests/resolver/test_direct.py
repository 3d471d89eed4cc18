"""The resolver's side of direct references: the given file is its project's only candidate.

    a 1.0 (index) ──▶ b>=1        b 1.0, 2.0 on the index; b 5.0 only as a direct file
    c 9.0 (direct) ──▶ b<2
"""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.resolver.memory import MemorySource
from venvd.dist import CoreMetadata, DistFile
from venvd.errors import InvalidRequirement, ResolutionImpossible
from venvd.resolver import resolve
from venvd.resolver._direct import DirectFile
from venvd.target import Target

LINUX_311 = Target.from_shorthand("3.11", "manylinux_2_28_x86_64")
INDEX = {"a": {"1.0": {"requires_dist": ["b>=1"]}}, "b": {"1.0": {}, "2.0": {}}}
SHA = "5" * 64


def _direct(name: str, version: str, requires: list[str]) -> DirectFile:
    filename = f"{name}-{version}-py3-none-any.whl"
    file = DistFile.from_filename(filename, f"https://files.example/{filename}", sha256=SHA)
    assert file is not None
    return file, CoreMetadata.create(name, Version(version), requires_dist=requires)


def _ref(file: DirectFile, marker: str = "") -> Requirement:
    return Requirement(f"{file[0].project} @ {file[0].url}#sha256={SHA}{marker}")


def test_the_direct_file_is_the_only_candidate_and_is_locked_by_url() -> None:
    b5 = _direct("b", "5.0", [])
    lock = resolve([Requirement("a"), _ref(b5)], LINUX_311, MemorySource(INDEX),
                   direct={canonicalize_name("b"): b5})
    assert {p.name: p.version for p in lock.packages} == {"a": "1.0", "b": "5.0"}
    b = lock.package("b")
    assert b is not None and b.index is None
    assert [(f.url, f.sha256) for f in b.files] == [(b5[0].url, SHA)]


def test_other_requirements_must_accept_its_version() -> None:
    b5, c9 = _direct("b", "5.0", []), _direct("c", "9.0", ["b<2"])
    with pytest.raises(ResolutionImpossible):
        resolve([_ref(b5), Requirement("b<3")], LINUX_311, MemorySource(INDEX),
                direct={canonicalize_name("b"): b5})
    with pytest.raises(ResolutionImpossible):
        resolve([_ref(b5), _ref(c9)], LINUX_311, MemorySource(INDEX),
                direct={canonicalize_name("b"): b5, canonicalize_name("c"): c9})
    # Without the direct b, c's b<2 is met from the index.
    lock = resolve([_ref(c9)], LINUX_311, MemorySource(INDEX), direct={canonicalize_name("c"): c9})
    assert {p.name: p.version for p in lock.packages} == {"b": "1.0", "c": "9.0"}


def test_a_reference_needs_its_file_unless_its_marker_is_false() -> None:
    b5 = _direct("b", "5.0", [])
    with pytest.raises(InvalidRequirement, match="only with their file given"):
        resolve([_ref(b5)], LINUX_311, MemorySource(INDEX))
    lock = resolve([Requirement("a"), _ref(b5, ' ; sys_platform == "win32"')], LINUX_311,
                   MemorySource(INDEX))
    assert {p.name: p.version for p in lock.packages} == {"a": "1.0", "b": "2.0"}
    with pytest.raises(InvalidRequirement, match="a constraint cannot be a direct reference"):
        resolve([Requirement("a")], LINUX_311, MemorySource(INDEX), constraints=[_ref(b5)],
                direct={canonicalize_name("b"): b5})
