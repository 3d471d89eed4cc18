"""Targets from `--python X.Y[.Z]` and `--platform NAME` shorthands.

Contract of `target_from_shorthand(python, platform)`:

- `python` is ``"X.Y"`` or ``"X.Y.Z"`` (``"X.Y"`` means ``X.Y.0`` as python_full_version), major
  2 (up to 2.7) or 3 (up to 3.30), micro at most 99; None means the host's version. Anything else raises
  InvalidTarget naming the text.
- `platform` is one of the names in `ACCEPTED_PLATFORMS`; None means the host's platform (its
  `packaging.tags.platform_tags()`). Anything else raises InvalidTarget listing the accepted forms.
  ``-`` and ``.`` are read as ``_`` (``macosx-14.0-arm64`` is ``macosx_14_0_arm64``).
- Version numbers are bounded by what exists, with a margin (each tag list grows with them, and an
  unbounded one is a denial of service): glibc 2.60, musl 1.20, macOS 30.20, Python 3.30; past
  them InvalidTarget names the bound. The largest target they allow (3.30 on macosx_30_20_x86_64)
  has 12,570 tags.
- Both None: exactly `Target.current()`.
- The target is always a CPython. Tags come from `packaging.tags.cpython_tags` followed by
  `compatible_tags`, which is the order pip prefers for that interpreter. Platform tag lists:

  * ``manylinux_2_N_<arch>`` (or a legacy alias manylinux1/2010/2014): manylinux_2_N down to 2_5
    (2_17 off x86), each PEP 600 tag followed by its legacy alias where one exists, then
    ``linux_<arch>`` last (a locally built wheel is the least portable choice).
  * ``musllinux_1_N_<arch>``: musllinux_1_N down to 1_0, then ``linux_<arch>``.
  * ``linux_<arch>``: that tag only, as pip's ``--platform linux_<arch>`` means (no glibc is known).
  * ``macosx_X_Y_<arch>``: the given tag, then `packaging.tags.mac_platforms((X, Y), arch)`
    (for universal2 that is universal2 tags only: the environment must run on both CPUs).
  * ``win_amd64``, ``win32``, ``win_arm64``: that tag only.

- ABI: ``cpXY`` from 3.8, ``cpXYm`` for 3.3 to 3.7 and for older versions off Linux, ``cpXYmu`` for
  Python < 3.3 on Linux (UCS-4, the distributions' default build).
- Marker environment as that interpreter reports it: sys_platform ``linux`` (``linux2`` before 3.3),
  ``darwin`` or ``win32``; platform_release and platform_version are empty (a shorthand names no
  kernel). Before 3.3 there is no ``sys.implementation``, so implementation_name is ``""`` and
  implementation_version ``"0"``, exactly what packaging on such an interpreter reports.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Iterable, Iterator
from typing import Literal, TypeVar

from packaging.tags import compatible_tags, cpython_tags, mac_platforms

from venvd.errors import InvalidTarget
from venvd.target._model import MARKER_KEYS, Target

__all__ = ["ACCEPTED_PLATFORMS", "target_from_shorthand"]

OS = Literal["linux", "darwin", "windows"]
_T = TypeVar("_T")

_LINUX_ARCHS = ("x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x", "riscv64")
# PEP 513/571 defined manylinux1/2010 for x86 only; PEP 599 (manylinux2014) added the rest.
_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
_LEGACY_ALIAS_GLIBC = {"manylinux1": 5, "manylinux2010": 12, "manylinux2014": 17}
_LEGACY_ALIAS_ARCHS = {
    "manylinux1": ("x86_64", "i686"),
    "manylinux2010": ("x86_64", "i686"),
    "manylinux2014": ("x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x"),
}
_MAC_ARCHS = ("arm64", "x86_64", "universal2")
# What platform.machine() says on each: universal2 runs on both CPUs; arm64 is the current hardware.
_MAC_MACHINE = {"arm64": "arm64", "x86_64": "x86_64", "universal2": "arm64"}
_WINDOWS = {"win_amd64": "AMD64", "win32": "x86", "win_arm64": "ARM64"}

# What exists (2026: glibc 2.42, musl 1.2, macOS 26, Python 3.15) plus a margin of years.
MAX_GLIBC_MINOR = 60
MAX_MUSL_MINOR = 20
MAX_MACOS_MAJOR = 30
MAX_MACOS_MINOR = 20
MAX_PYTHON3_MINOR = 30
MAX_MICRO = 99

ACCEPTED_PLATFORMS = (
    f"manylinux_2_<N>_<arch> (N >= 5 on x86_64/i686, >= 17 elsewhere, N <= {MAX_GLIBC_MINOR})",
    "manylinux1_<arch>, manylinux2010_<arch> (x86_64, i686)",
    "manylinux2014_<arch>",
    f"musllinux_1_<N>_<arch> (N <= {MAX_MUSL_MINOR})",
    "linux_<arch>",
    f"(linux arch: {', '.join(_LINUX_ARCHS)})",
    "macosx_<X>_<Y>_{arm64,x86_64,universal2} (arm64 from macOS 11, X <= "
    f"{MAX_MACOS_MAJOR}, Y <= {MAX_MACOS_MINOR})",
    "win_amd64, win32, win_arm64",
)


# At most 6 digits per number: int() of a long digit string is itself slow, and past the bounds
# above anyway.
_PYTHON_RE = re.compile(r"(\d{1,6})\.(\d{1,6})(?:\.(\d{1,6}))?")
_MANYLINUX_RE = re.compile(r"manylinux_(\d{1,6})_(\d{1,6})_(\w+)")
_LEGACY_RE = re.compile(r"(manylinux1|manylinux2010|manylinux2014)_(\w+)")
_MUSLLINUX_RE = re.compile(r"musllinux_(\d{1,6})_(\d{1,6})_(\w+)")
_LINUX_RE = re.compile(r"linux_(\w+)")
_MAC_RE = re.compile(r"macosx_(\d{1,6})_(\d{1,6})_(\w+)")


@dataclasses.dataclass(frozen=True)
class _Platform:
    """A parsed platform: its OS, its platform_machine, and its platform tags, best first."""

    os: OS
    machine: str
    platforms: tuple[str, ...]


def target_from_shorthand(python: str | None, platform: str | None) -> Target:
    """Build a Target from a Python version and a platform name; see the module docstring."""
    if python is None and platform is None:
        return Target.current()
    version = _parse_python(python) if python is not None else tuple(sys.version_info[:3])
    plat = _parse_platform(platform) if platform is not None else _host_platform()
    major, minor, micro = version
    abi = _cpython_abi(major, minor, plat.os)
    tags = _dedupe([
        *cpython_tags((major, minor), abis=[abi], platforms=plat.platforms),
        *compatible_tags((major, minor), interpreter=f"cp{major}{minor}",
                         platforms=plat.platforms),
    ])
    env = _marker_environment(major, minor, micro, plat)
    return Target(marker_environment=env, compatible_tags=tuple(tags))


def _parse_python(text: str) -> tuple[int, int, int]:
    match = _PYTHON_RE.fullmatch(text.strip())
    if match is None:
        raise InvalidTarget(f"python version {text!r} is not X.Y or X.Y.Z", python=text)
    major, minor = int(match[1]), int(match[2])
    micro = int(match[3]) if match[3] is not None else 0
    if major not in (2, 3) or (major == 2 and minor > 7):
        raise InvalidTarget(f"python version {text!r} is not a CPython 2 or 3 release", python=text)
    if minor > MAX_PYTHON3_MINOR or micro > MAX_MICRO:
        raise InvalidTarget(
            f"python version {text!r} is past the newest accepted (3.{MAX_PYTHON3_MINOR}, micro "
            f"at most {MAX_MICRO})", python=text, max=f"3.{MAX_PYTHON3_MINOR}.{MAX_MICRO}")
    return major, minor, micro


def _invalid_platform(name: str, why: str = "is not a known platform") -> InvalidTarget:
    return InvalidTarget(
        f"platform {name!r} {why}; accepted forms: {'; '.join(ACCEPTED_PLATFORMS)}",
        platform=name, accepted=list(ACCEPTED_PLATFORMS),
    )


def _parse_platform(text: str) -> _Platform:
    name = text.strip().lower().replace("-", "_").replace(".", "_")
    if name in _WINDOWS:
        return _Platform("windows", _WINDOWS[name], (name,))
    if m := _MANYLINUX_RE.fullmatch(name):
        glibc_major, glibc_minor, arch = int(m[1]), int(m[2]), m[3]
        if glibc_major != 2:
            raise _invalid_platform(text, "names a glibc major version other than 2")
        return _manylinux(text, glibc_minor, arch)
    if m := _LEGACY_RE.fullmatch(name):
        alias, arch = m[1], m[2]
        if arch not in _LEGACY_ALIAS_ARCHS[alias]:
            raise _invalid_platform(text, f"is not defined: {alias} has no {arch!r} architecture")
        return _manylinux(text, _LEGACY_ALIAS_GLIBC[alias], arch)
    if m := _MUSLLINUX_RE.fullmatch(name):
        musl_major, musl_minor, arch = int(m[1]), int(m[2]), m[3]
        _check_linux_arch(text, arch)
        if musl_major != 1:
            raise _invalid_platform(text, "names a musl major version other than 1")
        if musl_minor > MAX_MUSL_MINOR:
            raise _invalid_platform(text, f"is past the newest accepted musl (1.{MAX_MUSL_MINOR})")
        tags = [f"musllinux_1_{minor}_{arch}" for minor in range(musl_minor, -1, -1)]
        return _Platform("linux", arch, (*tags, f"linux_{arch}"))
    if m := _LINUX_RE.fullmatch(name):
        _check_linux_arch(text, m[1])
        return _Platform("linux", m[1], (name,))
    if m := _MAC_RE.fullmatch(name):
        mac_version, arch = (int(m[1]), int(m[2])), m[3]
        if arch not in _MAC_ARCHS:
            raise _invalid_platform(text, f"has an unknown macOS architecture {arch!r}")
        if arch == "arm64" and mac_version < (11, 0):
            raise _invalid_platform(text, "is impossible: arm64 macOS starts at 11.0")
        if mac_version < (10, 0):
            raise _invalid_platform(text, "names a macOS version before 10.0")
        if mac_version[0] > MAX_MACOS_MAJOR or mac_version[1] > MAX_MACOS_MINOR:
            raise _invalid_platform(
                text, f"is past the newest accepted macOS ({MAX_MACOS_MAJOR}.{MAX_MACOS_MINOR})")
        # pip keeps the exact name first: mac_platforms drops the minor from 11 on (14_2 -> 14_0).
        tags = _dedupe([name, *mac_platforms(mac_version, arch)])
        return _Platform("darwin", _MAC_MACHINE[arch], tuple(tags))
    raise _invalid_platform(text)


def _check_linux_arch(text: str, arch: str) -> None:
    if arch not in _LINUX_ARCHS:
        raise _invalid_platform(text, f"has an unknown linux architecture {arch!r}")


def _manylinux(text: str, glibc_minor: int, arch: str) -> _Platform:
    _check_linux_arch(text, arch)
    oldest = 5 if arch in ("x86_64", "i686") else 17
    if glibc_minor < oldest:
        raise _invalid_platform(text, f"is older than the oldest manylinux for {arch} (2_{oldest})")
    if glibc_minor > MAX_GLIBC_MINOR:
        raise _invalid_platform(text, f"is past the newest accepted glibc (2_{MAX_GLIBC_MINOR})")

    def platforms() -> Iterator[str]:
        for minor in range(glibc_minor, oldest - 1, -1):
            yield f"manylinux_2_{minor}_{arch}"
            legacy = _LEGACY_MANYLINUX.get(minor)
            if legacy is not None and arch in _LEGACY_ALIAS_ARCHS[legacy]:
                yield f"{legacy}_{arch}"
        yield f"linux_{arch}"

    return _Platform("linux", arch, tuple(platforms()))


def _host_platform() -> _Platform:
    """The host's platform tags and machine, for a target that only changes the Python version."""
    from packaging.markers import default_environment
    from packaging.tags import platform_tags

    env = default_environment()
    system = env["platform_system"]
    os: OS = "darwin" if system == "Darwin" else "windows" if system == "Windows" else "linux"
    return _Platform(os, env["platform_machine"], tuple(platform_tags()))


def _cpython_abi(major: int, minor: int, os: OS) -> str:
    if (major, minor) >= (3, 8):
        return f"cp{major}{minor}"
    if (major, minor) >= (3, 3) or os != "linux":
        return f"cp{major}{minor}m"
    return f"cp{major}{minor}mu"


def _marker_environment(major: int, minor: int, micro: int, plat: _Platform) -> dict[str, str]:
    full = f"{major}.{minor}.{micro}"
    has_implementation = (major, minor) >= (3, 3)  # sys.implementation is new in 3.3
    if plat.os == "linux":
        sys_platform = "linux" if (major, minor) >= (3, 3) else "linux2"
        os_name, system = "posix", "Linux"
    elif plat.os == "darwin":
        sys_platform, os_name, system = "darwin", "posix", "Darwin"
    else:
        sys_platform, os_name, system = "win32", "nt", "Windows"
    env = {
        "implementation_name": "cpython" if has_implementation else "",
        "implementation_version": full if has_implementation else "0",
        "os_name": os_name,
        "platform_machine": plat.machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": system,
        "platform_version": "",
        "python_full_version": full,
        "python_version": f"{major}.{minor}",
        "sys_platform": sys_platform,
    }
    assert set(env) == set(MARKER_KEYS)
    return env


def _dedupe(items: Iterable[_T]) -> list[_T]:
    """Keep the first occurrence of each item, in order (the first is the preferred rank)."""
    return list(dict.fromkeys(items))
