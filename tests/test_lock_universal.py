"""The universal merge (venvd.lock_universal): markers that hold on exactly the targets using a
pin, a lossless round trip to each target's own lock, and refusals."""

from __future__ import annotations

import copy

import pytest
from packaging.markers import Marker

from venvd.errors import IndistinguishableTargets, InvalidLock
from venvd.lock import Lock, LockedFile, LockedPackage
from venvd.lock_universal import UniversalLock, merge
from venvd.target import Target


def _file(name: str) -> LockedFile:
    return LockedFile(filename=name, url=f"https://example.invalid/{name}", sha256=name[:1] * 64)


def _lock(python: str, platform: str, *packages: LockedPackage) -> Lock:
    return Lock(packages=packages, target=Target.from_shorthand(python, platform).to_json(),
                requirements=("x",))


def _pkg(name: str, version: str, *files: str, deps: tuple[str, ...] = ()) -> LockedPackage:
    return LockedPackage(name=name, version=version,
                         files=tuple(_file(f) for f in files or (f"{name}-{version}-py3-none-any.whl",)),
                         dependencies=deps)


def _holds_exactly(universal: UniversalLock) -> None:
    for i, target in enumerate(universal.targets):
        env = {**target.target["marker_environment"], "extra": ""}
        for package in universal.packages:
            holds = package.marker is None or Marker(package.marker).evaluate(env)
            assert holds == (i in package.targets), (package.name, package.version, i)
        assert Marker(target.environment).evaluate(env)


def test_python_versions_are_told_apart_by_python_version() -> None:
    universal = merge([
        _lock("3.11", "manylinux_2_28_x86_64", _pkg("x", "1.0"), _pkg("old", "1.0")),
        _lock("3.12", "manylinux_2_28_x86_64", _pkg("x", "2.0")),
    ])
    assert [t.marker for t in universal.targets] == ['python_version == "3.11"',
                                                     'python_version == "3.12"']
    assert {(p.name, p.version): p.marker for p in universal.packages} == {
        ("x", "1.0"): 'python_version == "3.11"', ("x", "2.0"): 'python_version == "3.12"',
        ("old", "1.0"): 'python_version == "3.11"'}
    _holds_exactly(universal)


def test_patch_versions_are_told_apart_by_python_full_version() -> None:
    universal = merge([_lock("3.12.1", "manylinux_2_28_x86_64", _pkg("x", "1.0")),
                       _lock("3.12.4", "manylinux_2_28_x86_64", _pkg("x", "2.0"))])
    assert universal.targets[0].marker == 'python_full_version == "3.12.1"'
    assert "python_version" not in universal.targets[0].environment
    _holds_exactly(universal)


def test_a_subset_no_single_variable_describes() -> None:
    """linux/3.11 and win32/3.12 use `odd`: the OR of their own conjunctions."""
    locks = [_lock(py, plat, _pkg("x", "1.0"), *([_pkg("odd", "1.0")] if used else []))
             for py, plat, used in [("3.11", "manylinux_2_28_x86_64", True),
                                    ("3.12", "manylinux_2_28_x86_64", False),
                                    ("3.11", "win_amd64", False), ("3.12", "win_amd64", True)]]
    universal = merge(locks)
    odd = next(p for p in universal.packages if p.name == "odd")
    assert odd.marker == ('(sys_platform == "linux" and python_version == "3.11") or '
                          '(sys_platform == "win32" and python_version == "3.12")')
    assert next(p for p in universal.packages if p.name == "x").marker is None
    _holds_exactly(universal)


def test_round_trip_to_each_targets_own_lock() -> None:
    """One version, different files and dependencies per target: files carry their targets,
    dependencies their per-target difference, and each target's lock comes back (same id)."""
    linux = _lock("3.11", "manylinux_2_28_x86_64",
                  _pkg("n", "1.0", "n-1.0-py3-none-manylinux_2_17_x86_64.whl", "n-1.0.tar.gz",
                       deps=("a",)), _pkg("a", "1.0"))
    windows = _lock("3.11", "win_amd64", _pkg("n", "1.0", "n-1.0-py3-none-win_amd64.whl",
                                              "n-1.0.tar.gz"))
    universal = merge([linux, windows])
    doc = universal.to_json()
    native = next(p for p in doc["packages"] if p["name"] == "n")
    assert {f["filename"]: f.get("targets") for f in native["files"]} == {
        "n-1.0-py3-none-manylinux_2_17_x86_64.whl": [0], "n-1.0-py3-none-win_amd64.whl": [1],
        "n-1.0.tar.gz": None}
    assert native["dependencies"] == ["a"] and native["per_target"] == {"1": {"dependencies": []}}
    parsed = UniversalLock.from_json(copy.deepcopy(doc))
    assert parsed.id == universal.id
    assert [parsed.lock_for(i).id for i in (0, 1)] == [linux.id, windows.id]


def test_an_edited_lock_is_refused() -> None:
    doc = merge([_lock("3.11", "manylinux_2_28_x86_64", _pkg("x", "1.0")),
                 _lock("3.11", "win_amd64", _pkg("x", "2.0"))]).to_json()
    edited = copy.deepcopy(doc)
    edited["packages"][0]["version"] = "1.1"
    with pytest.raises(InvalidLock, match="'id' does not match"):
        UniversalLock.from_json(edited)
    del edited["id"]
    with pytest.raises(InvalidLock, match="target 0 do not match its 'lock_id'"):
        UniversalLock.from_json(edited)
    broken = copy.deepcopy(doc)
    del broken["id"]
    broken["packages"][0]["targets"] = [7]
    with pytest.raises(InvalidLock, match="names a target that is not in the lock"):
        UniversalLock.from_json(broken)


def test_targets_no_marker_tells_apart_must_agree() -> None:
    same = merge([_lock("3.11", "manylinux_2_17_x86_64", _pkg("x", "1.0")),
                  _lock("3.11", "manylinux_2_28_x86_64", _pkg("x", "1.0"))])
    assert [t.marker for t in same.targets] == [None, None]
    with pytest.raises(IndistinguishableTargets) as err:
        merge([_lock("3.11", "manylinux_2_17_x86_64", _pkg("x", "1.0")),
               _lock("3.11", "manylinux_2_28_x86_64", _pkg("x", "2.0"))], ["old glibc", "new glibc"])
    assert err.value.details["targets"] == [0, 1]
    assert "targets 0 (old glibc) and 1 (new glibc)" in err.value.message
    assert err.value.http_status == 422
