"""Versions are judged for the target only when the resolver walks them; pages are grouped once.

Each version's wheel carries its own Requires-Python text, and the target records the texts it is
asked about: that is exactly the set of versions whose files were judged.
"""

from __future__ import annotations

from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tests.resolver.memory import MemorySource
from venvd.resolver import resolve
from venvd.resolver._candidates import GroupCache, ProjectView
from venvd.resolver._types import ResolveOptions
from venvd.target import Target

BASE = Target.from_shorthand("3.11", "manylinux_2_28_x86_64")


class CountingTarget(Target):
    """A real target that records every Requires-Python text it is asked about."""

    def allows_python(self, requires_python: str | SpecifierSet | None) -> bool:
        self.__dict__.setdefault("asked", []).append(str(requires_python))
        return super().allows_python(requires_python)

    def judged_versions(self) -> set[int]:
        """The versions (their minor number) whose files were judged."""
        return {int(text.rsplit(".", 1)[1]) for text in self.__dict__.get("asked", [])
                if text.startswith(">=3, !=2.7.")}


def counting_target() -> CountingTarget:
    return CountingTarget(marker_environment=BASE.marker_environment,
                          compatible_tags=BASE.compatible_tags)


def history(count: int, **extra: Any) -> dict[str, Any]:
    """Versions 1.0 ... 1.<count-1>, each with a Requires-Python text of its own."""
    return {f"1.{i}": {"requires_python": f">=3, !=2.7.{i}", **extra} for i in range(count)}


def test_only_the_chosen_version_is_judged() -> None:
    target = counting_target()
    lock = resolve([Requirement("a")], target, MemorySource({"a": history(60)}))
    assert lock.packages[0].version == "1.59"
    assert target.judged_versions() == {59}


def test_versions_outside_the_specifier_are_never_judged() -> None:
    target = counting_target()
    lock = resolve([Requirement("a<1.10")], target, MemorySource({"a": history(60)}))
    assert lock.packages[0].version == "1.9"
    assert target.judged_versions() == {9}


def test_unusable_versions_are_judged_one_by_one_until_a_usable_one() -> None:
    """The newest ten versions have only Windows wheels: each is judged, and found wanting, on
    the way down to the newest usable one; nothing older is judged."""
    index = {"a": history(40)}
    for i in range(30, 40):
        index["a"][f"1.{i}"]["wheels"] = ["cp311-cp311-win_amd64"]
    target = counting_target()
    lock = resolve([Requirement("a")], target, MemorySource(index))
    assert lock.packages[0].version == "1.29"
    assert min(target.judged_versions()) == 29
    assert target.judged_versions() <= set(range(29, 40))


def test_prerelease_fallback_still_sees_only_usable_finals() -> None:
    """The only final release has no usable file: the pre-release is chosen (the fallback is
    decided over the usable versions, as if every version had been judged)."""
    index = {"a": {"1.0": {"wheels": ["cp311-cp311-win_amd64"]}, "2.0b1": {}}}
    lock = resolve([Requirement("a")], BASE, MemorySource(index))
    assert lock.packages[0].version == "2.0b1"


def test_a_page_is_grouped_once_across_targets() -> None:
    source = MemorySource({"a": history(5)})
    groups = GroupCache()
    files = source.project_files("a")  # type: ignore[arg-type]
    assert files is not None
    first = ProjectView("a", files, BASE, ResolveOptions(), groups)  # type: ignore[arg-type]
    other = Target.from_shorthand("3.12", "manylinux_2_28_x86_64")
    again = ProjectView("a", list(files), other, ResolveOptions(), groups)  # type: ignore[arg-type]
    assert first._groups is again._groups
    assert first.judged == 0 and again.judged == 0


def test_a_new_page_is_grouped_anew() -> None:
    """New file objects (a refreshed page) never get the grouping of the old ones."""
    groups = GroupCache()
    old = MemorySource({"a": history(3)}).project_files("a")  # type: ignore[arg-type]
    new = MemorySource({"a": history(4)}).project_files("a")  # type: ignore[arg-type]
    assert old is not None and new is not None
    ProjectView("a", old, BASE, ResolveOptions(), groups)  # type: ignore[arg-type]
    view = ProjectView("a", new, BASE, ResolveOptions(), groups)  # type: ignore[arg-type]
    assert [str(v) for v in view.versions] == ["1.3", "1.2", "1.1", "1.0"]


def test_group_cache_is_bounded_by_files() -> None:
    groups = GroupCache(max_files=6)
    pages = {name: MemorySource({name: history(3)}).project_files(name)  # type: ignore[arg-type]
             for name in ("a", "b", "c")}
    for name, files in pages.items():
        assert files is not None
        groups.get(name, files)  # type: ignore[arg-type]
    assert groups._files <= 6
    assert list(groups._entries) == ["b", "c"]
