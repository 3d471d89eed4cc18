"""`--python`/`--platform` shorthands: tags in pip's order for that interpreter, and its markers."""

from __future__ import annotations

import json
import platform as host_platform
import sys

import pytest
from packaging.markers import default_environment
from packaging.tags import Tag, sys_tags
from packaging.utils import parse_wheel_filename

from venvd.errors import InvalidTarget
from venvd.target import Target, target_from_shorthand
from venvd.target._model import MARKER_KEYS


def rank(target: Target, wheel: str) -> int | None:
    """Rank of a wheel file name for the target (0 best), None if it cannot be installed there."""
    return target.tag_rank(parse_wheel_filename(wheel)[3])


def tags(target: Target) -> list[str]:
    return [str(t) for t in target.compatible_tags]


# -- Linux ------------------------------------------------------------------------------------
def test_manylinux_2_28_cp311() -> None:
    t = Target.from_shorthand("3.11", "manylinux_2_28_x86_64")
    assert tags(t)[0] == "cp311-cp311-manylinux_2_28_x86_64"
    best = rank(t, "x-1-cp311-cp311-manylinux_2_28_x86_64.whl")
    older = rank(t, "x-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    abi3 = rank(t, "x-1-cp38-abi3-manylinux_2_17_x86_64.whl")
    pure = rank(t, "x-1-py3-none-any.whl")
    assert best == 0
    assert best is not None and older is not None and abi3 is not None and pure is not None
    assert best < older < abi3 < pure
    assert rank(t, "x-1-cp310-cp310-manylinux_2_28_x86_64.whl") is None
    assert rank(t, "x-1-cp311-cp311-manylinux_2_31_x86_64.whl") is None  # needs a newer glibc
    assert rank(t, "x-1-cp311-cp311-musllinux_1_2_x86_64.whl") is None
    assert rank(t, "x-1-cp311-cp311-manylinux_2_28_aarch64.whl") is None
    assert rank(t, "x-1-py2-none-any.whl") is None
    assert rank(t, "x-1-cp311-cp311-manylinux1_x86_64.whl") is not None


def test_manylinux_platform_order_and_legacy_aliases() -> None:
    t = Target.from_shorthand("3.11", "manylinux_2_28_x86_64")
    platforms = list(dict.fromkeys(
        tag.platform for tag in t.compatible_tags if tag.platform != "any"))
    assert platforms[0] == "manylinux_2_28_x86_64"
    # each legacy alias right after its PEP 600 equivalent, then the local linux tag last
    for pep600, legacy in [("manylinux_2_17_x86_64", "manylinux2014_x86_64"),
                           ("manylinux_2_12_x86_64", "manylinux2010_x86_64"),
                           ("manylinux_2_5_x86_64", "manylinux1_x86_64")]:
        assert platforms.index(legacy) == platforms.index(pep600) + 1
    assert platforms[-2:] == ["manylinux1_x86_64", "linux_x86_64"]
    assert len(platforms) == 28 - 5 + 1 + 3 + 1
    env = t.marker_environment
    assert env["sys_platform"] == "linux" and env["platform_system"] == "Linux"
    assert env["platform_machine"] == "x86_64" and env["os_name"] == "posix"
    assert env["python_full_version"] == "3.11.0" and env["python_version"] == "3.11"
    assert env["implementation_name"] == "cpython"
    assert env["platform_python_implementation"] == "CPython"
    assert env["platform_release"] == env["platform_version"] == ""
    assert set(env) == set(MARKER_KEYS)


def test_legacy_names_equal_their_pep600_names() -> None:
    for legacy, pep600 in [("manylinux2014_x86_64", "manylinux_2_17_x86_64"),
                           ("manylinux2010_i686", "manylinux_2_12_i686"),
                           ("manylinux1_x86_64", "manylinux_2_5_x86_64")]:
        assert Target.from_shorthand("3.9", legacy) == Target.from_shorthand("3.9", pep600)


def test_manylinux2014_aarch64() -> None:
    t = Target.from_shorthand("3.12.3", "manylinux2014_aarch64")
    assert tags(t)[:3] == ["cp312-cp312-manylinux_2_17_aarch64",
                           "cp312-cp312-manylinux2014_aarch64", "cp312-cp312-linux_aarch64"]
    assert t.marker_environment["platform_machine"] == "aarch64"
    assert t.marker_environment["python_full_version"] == "3.12.3"
    assert rank(t, "x-1-cp312-cp312-manylinux_2_17_x86_64.whl") is None


def test_linux_arch_is_exactly_that_tag() -> None:
    t = Target.from_shorthand("3.11", "linux_x86_64")
    assert {tag.platform for tag in t.compatible_tags} == {"linux_x86_64", "any"}


@pytest.mark.skipif(sys.platform != "linux" or host_platform.machine() != "x86_64"
                    or sys.implementation.name != "cpython",
                    reason="needs a CPython on x86_64 Linux")
def test_manylinux_agrees_with_packaging_on_this_host() -> None:
    """Where the host is such a machine, our order is packaging's own order for it."""
    glibc = host_platform.libc_ver()
    if glibc[0] != "glibc" or tuple(map(int, glibc[1].split(".")[:2])) < (2, 28):
        pytest.skip("needs glibc >= 2.28")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    t = Target.from_shorthand(version, "manylinux_2_28_x86_64")
    ours = set(t.compatible_tags)
    host = [tag for tag in sys_tags() if tag in ours and tag.platform != "linux_x86_64"]
    mine = [tag for tag in t.compatible_tags if tag.platform != "linux_x86_64"]
    assert host == mine


@pytest.mark.skipif(sys.implementation.name != "cpython" or hasattr(sys, "gettotalrefcount"),
                    reason="needs a release build of CPython")
def test_host_platform_with_host_version_is_pip_on_this_host() -> None:
    v = sys.version_info
    t = Target.from_shorthand(f"{v.major}.{v.minor}.{v.micro}", None)
    assert list(t.compatible_tags) == list(dict.fromkeys(sys_tags()))
    host = default_environment()
    for key in MARKER_KEYS:
        if key not in ("platform_release", "platform_version", "implementation_version"):
            assert t.marker_environment[key] == host[key], key


def test_defaults_are_the_host() -> None:
    assert Target.from_shorthand(None, None) == Target.current()
    v = sys.version_info
    t = target_from_shorthand(None, "win_amd64")
    assert t.marker_environment["python_full_version"] == f"{v.major}.{v.minor}.{v.micro}"
    t = target_from_shorthand("3.10", None)
    assert t.marker_environment["python_version"] == "3.10"
    assert t.marker_environment["platform_machine"] == default_environment()["platform_machine"]


def test_musllinux() -> None:
    t = Target.from_shorthand("3.12", "musllinux_1_2_aarch64")
    assert tags(t)[0] == "cp312-cp312-musllinux_1_2_aarch64"
    newer = rank(t, "x-1-cp312-cp312-musllinux_1_2_aarch64.whl")
    older = rank(t, "x-1-cp312-cp312-musllinux_1_1_aarch64.whl")
    assert newer is not None and older is not None and newer < older
    assert rank(t, "x-1-cp312-cp312-musllinux_1_0_aarch64.whl") is not None
    assert rank(t, "x-1-cp312-cp312-musllinux_1_3_aarch64.whl") is None
    assert rank(t, "x-1-cp312-cp312-manylinux_2_17_aarch64.whl") is None
    assert t.marker_environment["sys_platform"] == "linux"
    assert t.marker_environment["platform_machine"] == "aarch64"


# -- macOS and Windows ------------------------------------------------------------------------
def test_macos_universal2_takes_only_universal2_binaries() -> None:
    t = Target.from_shorthand("3.12", "macosx_14_0_universal2")
    assert tags(t)[0] == "cp312-cp312-macosx_14_0_universal2"
    assert rank(t, "x-1-cp312-cp312-macosx_10_9_universal2.whl") is not None
    assert rank(t, "x-1-cp312-cp312-macosx_11_0_arm64.whl") is None
    assert rank(t, "x-1-cp312-cp312-macosx_10_9_x86_64.whl") is None
    assert rank(t, "x-1-cp312-cp312-macosx_15_0_universal2.whl") is None
    assert rank(t, "x-1-py3-none-any.whl") is not None
    env = t.marker_environment
    assert env["sys_platform"] == "darwin" and env["platform_system"] == "Darwin"
    assert env["os_name"] == "posix"


def test_macos_arm64() -> None:
    t = Target.from_shorthand("3.11", "macosx_14_0_arm64")
    native = rank(t, "x-1-cp311-cp311-macosx_11_0_arm64.whl")
    universal = rank(t, "x-1-cp311-cp311-macosx_10_9_universal2.whl")
    assert native is not None and universal is not None and native < universal
    assert rank(t, "x-1-cp311-cp311-macosx_10_9_x86_64.whl") is None
    assert rank(t, "x-1-cp311-cp311-macosx_15_0_arm64.whl") is None
    assert t.marker_environment["platform_machine"] == "arm64"
    # a minor release is kept as given: pip does the same with --platform
    assert rank(Target.from_shorthand("3.11", "macosx-14.2-arm64"),
                "x-1-cp311-cp311-macosx_14_2_arm64.whl") == 0


def test_macos_x86_64_older_formats() -> None:
    t = Target.from_shorthand("3.7", "macosx_10_9_x86_64")
    assert tags(t)[0] == "cp37-cp37m-macosx_10_9_x86_64"
    assert rank(t, "x-1-cp37-cp37m-macosx_10_6_intel.whl") is not None
    assert rank(t, "x-1-cp37-cp37m-macosx_10_10_x86_64.whl") is None
    assert t.marker_environment["platform_machine"] == "x86_64"


@pytest.mark.parametrize(("name", "machine"), [("win_amd64", "AMD64"), ("win32", "x86"),
                                               ("win_arm64", "ARM64")])
def test_windows(name: str, machine: str) -> None:
    t = Target.from_shorthand("3.11", name)
    assert tags(t)[0] == f"cp311-cp311-{name}"
    assert {tag.platform for tag in t.compatible_tags} == {name, "any"}
    env = t.marker_environment
    assert env["sys_platform"] == "win32" and env["os_name"] == "nt"
    assert env["platform_system"] == "Windows" and env["platform_machine"] == machine
    assert t.evaluate('sys_platform == "win32" and os_name == "nt"')
    assert not t.evaluate('sys_platform == "linux"')


# -- Python 2.7 -------------------------------------------------------------------------------
def test_python_276_linux() -> None:
    t = Target.from_shorthand("2.7.6", "linux_x86_64")
    assert tags(t)[:2] == ["cp27-cp27mu-linux_x86_64", "cp27-none-linux_x86_64"]
    assert not any(tag.abi == "abi3" for tag in t.compatible_tags)
    assert rank(t, "x-1-cp27-cp27mu-linux_x86_64.whl") == 0
    assert rank(t, "x-1-cp27-cp27m-linux_x86_64.whl") is None  # UCS-2 build: not this one
    assert rank(t, "x-1-py2.py3-none-any.whl") is not None
    assert rank(t, "x-1-py27-none-any.whl") is not None
    assert rank(t, "x-1-cp311-cp311-linux_x86_64.whl") is None
    assert rank(t, "x-1-py3-none-any.whl") is None
    env = t.marker_environment
    assert env["sys_platform"] == "linux2"
    assert env["python_full_version"] == "2.7.6" and env["python_version"] == "2.7"
    # Python 2 has no sys.implementation: packaging there reports these values
    assert (env["implementation_name"], env["implementation_version"]) == ("", "0")
    assert set(env) == set(MARKER_KEYS)


def test_python_27_markers() -> None:
    t = Target.from_shorthand("2.7.6", "manylinux1_x86_64")
    assert t.evaluate('python_version < "3"')
    assert t.evaluate('sys_platform == "linux2"')
    assert t.evaluate('python_full_version >= "2.7.6"')
    assert t.evaluate('platform_python_implementation == "CPython"')
    assert not t.evaluate('python_version >= "3.4"')
    assert not t.evaluate('sys_platform == "linux"')
    assert t.evaluate('extra == "socks" and python_version < "3"', extras=["socks"])
    assert rank(t, "x-1-cp27-cp27mu-manylinux1_x86_64.whl") is not None
    py3 = Target.from_shorthand("3.11", "manylinux1_x86_64")
    assert not py3.evaluate('python_version < "3"')


@pytest.mark.parametrize("name", ["macosx_10_9_x86_64", "win_amd64"])
def test_python_27_elsewhere_is_cp27m(name: str) -> None:
    t = Target.from_shorthand("2.7", name)
    assert tags(t)[0] == f"cp27-cp27m-{name}"
    assert t.marker_environment["sys_platform"] in ("darwin", "win32")


def test_python_36_has_pymalloc_abi_and_abi3() -> None:
    t = Target.from_shorthand("3.6", "manylinux2014_x86_64")
    assert tags(t)[0] == "cp36-cp36m-manylinux_2_17_x86_64"
    assert rank(t, "x-1-cp34-abi3-manylinux1_x86_64.whl") is not None


# -- identity ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("python", "platform"), [
    ("3.11", "manylinux_2_28_x86_64"), ("2.7.6", "linux_x86_64"),
    ("3.12", "macosx_14_0_universal2"), ("3.13.1", "win_arm64"), ("3.10", "musllinux_1_1_x86_64"),
])
def test_json_round_trip(python: str, platform: str) -> None:
    t = Target.from_shorthand(python, platform)
    again = Target.from_json(json.loads(json.dumps(t.to_json())))
    assert again == t
    assert again.key == t.key
    assert again.compatible_tags[0] == t.compatible_tags[0]


def test_different_targets_have_different_keys() -> None:
    keys = {Target.from_shorthand(p, q).key for p in ("3.11", "3.11.7", "2.7")
            for q in ("manylinux_2_28_x86_64", "win_amd64")}
    assert len(keys) == 6


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("python", ["3", "three", "3.11.x", "", "3.11.7.1", "4.0", "2.8", "1.5"])
def test_bad_python(python: str) -> None:
    with pytest.raises(InvalidTarget) as info:
        target_from_shorthand(python, "linux_x86_64")
    assert repr(python) in str(info.value)
    assert info.value.http_status == 422


@pytest.mark.parametrize("platform", [
    "win64", "freebsd_13_amd64", "linux_sparc", "manylinux_2_4_x86_64", "manylinux_2_16_aarch64",
    "manylinux_3_0_x86_64", "manylinux1_aarch64", "macosx_10_15_arm64", "macosx_14_0_ppc",
    "musllinux_2_0_x86_64", "", "any",
])
def test_bad_platform(platform: str) -> None:
    with pytest.raises(InvalidTarget) as info:
        target_from_shorthand("3.11", platform)
    message = str(info.value)
    assert repr(platform) in message
    assert "manylinux_2_<N>_<arch>" in message and "win_amd64" in message
    assert info.value.details["platform"] == platform


def test_tags_are_unique_tags() -> None:
    t = Target.from_shorthand("3.11", "macosx_11_0_x86_64")
    assert len(set(t.compatible_tags)) == len(t.compatible_tags)
    assert all(isinstance(tag, Tag) for tag in t.compatible_tags)
