"""Describe the running interpreter: the one script venvd runs inside an interpreter it will use.

Self-contained on purpose: it imports only the standard library, so it runs on every interpreter
venvd accepts (CPython 3.8 and newer, PyPy) whatever is installed there, as uv's
``get_interpreter_info.py`` and pex's interpreter identification do. (The probe it replaces put
venvd's own `packaging` on the child's path, which needs Python 3.10 and failed on PyPy 3.9.)
The client runs it once per command (``python -E -s -c <bootstrap> _probe.py``, see
`venvd.target._interpreter`), or calls `describe()` in-process for the running interpreter. It is
one file, past the ~400 lines a module should keep to, because it is shipped into the interpreter
as one script; it must parse on Python 3.8 (no ``match``, no runtime use of new annotations).

Contract of `describe()` (printed as JSON when run as a script):

- ``marker_environment``: exactly `packaging.markers.default_environment()` of this interpreter;
- ``compatible_tags``: exactly ``[str(t) for t in packaging.tags.sys_tags()]`` of packaging 26.3+
  (native ``linux_*`` platforms before ``manylinux``/``musllinux`` ones), best first;
- ``implementation``, ``version`` (``[major, minor, micro, releaselevel, serial]``),
  ``executable`` (``sys.executable``), ``prefix``/``base_prefix``, ``pointer_size`` (32/64);
- ``venv``: where a venv made by this interpreter keeps ``purelib``, ``platlib``, ``scripts``,
  ``include`` and ``data``, relative to the venv root with ``/`` separators.

tests/materialize/test_probe.py checks the first two against packaging: for the running
interpreter, and inside Debian's pypy3 and every CPython pyenv has on the machine, against the
packaging release that runs there. The tag rules below follow `packaging.tags`, `_manylinux`,
`_musllinux` and `_elffile` function by function (a function's name says which it follows), so
that a change there can be followed here.
"""

from __future__ import annotations

import json
import os
import platform
import re
import struct
import sys
import sysconfig
from collections.abc import Iterator
from typing import Any

__all__ = ["FORMAT", "describe"]

FORMAT = 1  # bumped when the shape of `describe()` changes

_SHORT_NAMES = {"python": "py", "cpython": "cp", "pypy": "pp", "ironpython": "ip", "jython": "jy"}
_MANYLINUX_ARCHS = {"x86_64", "aarch64", "ppc64", "ppc64le", "s390x", "loongarch64", "riscv64"}
_LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
_IS_32BIT = struct.calcsize("P") == 4


def describe() -> dict[str, Any]:
    """This interpreter as venvd needs to know it (see the module docstring)."""
    version = sys.version_info
    return {
        "probe": FORMAT,
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "implementation": sys.implementation.name,
        "version": [version[0], version[1], version[2], version[3], version[4]],
        "pointer_size": 32 if _IS_32BIT else 64,
        "marker_environment": marker_environment(),
        "compatible_tags": list(sys_tags()),
        "venv": venv_paths(),
    }


# -- PEP 508 ----------------------------------------------------------------------------------
def _full_version(info: Any) -> str:
    text = f"{info.major}.{info.minor}.{info.micro}"
    if info.releaselevel != "final":
        text += info.releaselevel[0] + str(info.serial)
    return text


def marker_environment() -> dict[str, str]:
    """`packaging.markers.default_environment()`, key for key."""
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": _full_version(sys.implementation.version),
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


# -- PEP 425: interpreter and ABI -------------------------------------------------------------
def sys_tags() -> Iterator[str]:
    """`packaging.tags.sys_tags()` as strings, best first."""
    name = _SHORT_NAMES.get(sys.implementation.name) or sys.implementation.name
    platforms = list(_platforms())
    if name == "cp":
        yield from _cpython_tags(sys.version_info[:2], platforms)
    else:
        interpreter = name + _interpreter_version()
        abis = list(_generic_abis())
        if "none" not in abis:
            abis.append("none")
        for abi in abis:
            for plat in platforms:
                yield "-".join((interpreter, abi, plat))
    if name == "pp":
        short: str | None = "pp3"
    elif name == "cp":
        short = "cp" + _interpreter_version()
    else:
        short = None
    yield from _compatible_tags(sys.version_info[:2], short, platforms)


def _config(name: str) -> Any:
    return sysconfig.get_config_var(name)


def _normalize(text: str) -> str:
    return text.replace(".", "_").replace("-", "_").replace(" ", "_")


def _nodot(version: tuple[int, ...]) -> str:
    return "".join(str(part) for part in version)


def _interpreter_version() -> str:
    version = _config("py_version_nodot")
    return str(version) if version else _nodot(tuple(sys.version_info[:2]))


def _cpython_abis(version: tuple[int, ...]) -> list[str]:
    """The version-specific CPython ABIs: ``cp311``, ``cp313t``, ``cp312d`` + ``cp312``."""
    nodot = _nodot(version)
    threading = debug = pymalloc = ""
    with_debug = _config("Py_DEBUG")
    import importlib.machinery

    has_ext = "_d.pyd" in importlib.machinery.EXTENSION_SUFFIXES
    if with_debug or (with_debug is None and (hasattr(sys, "gettotalrefcount") or has_ext)):
        debug = "d"
    if version >= (3, 13) and _config("Py_GIL_DISABLED"):
        threading = "t"
    if version < (3, 8):  # only for an EXT_SUFFIX of ".pyd" (see _generic_abis)
        with_pymalloc = _config("WITH_PYMALLOC")
        if with_pymalloc or with_pymalloc is None:
            pymalloc = "m"
    abis = [f"cp{nodot}{threading}{debug}{pymalloc}"]
    if version >= (3, 8) and debug:
        abis.append(f"cp{nodot}{threading}")  # a debug build loads normal extensions too
    return abis


def _cpython_tags(version: tuple[int, ...], platforms: list[str]) -> Iterator[str]:
    interpreter = "cp" + _nodot(version)
    abis = _cpython_abis(version)
    threaded = any("t" in abi[len(interpreter):] for abi in abis[:1])
    for abi in abis:
        for plat in platforms:
            yield "-".join((interpreter, abi, plat))
    stable = "abi3t" if threaded else "abi3"  # free-threaded builds load abi3t, never abi3
    for plat in platforms:
        yield "-".join((interpreter, stable, plat))
    for plat in platforms:
        yield "-".join((interpreter, "none", plat))
    for minor in range(version[1] - 1, 1, -1):
        older = "cp" + _nodot((version[0], minor))
        for plat in platforms:
            yield "-".join((older, stable, plat))


def _generic_abis() -> Iterator[str]:
    """The ABI named by EXT_SUFFIX: ``.pypy39-pp73-x86_64-linux-gnu.so`` gives ``pypy39_pp73``."""
    suffix = _config("EXT_SUFFIX")
    if not isinstance(suffix, str) or not suffix.startswith("."):
        raise SystemError("invalid sysconfig.get_config_var('EXT_SUFFIX')")
    parts = suffix.split(".")
    if len(parts) < 3:  # ".pyd": CPython 3.7 and older on Windows
        yield from _cpython_abis(tuple(sys.version_info[:2]))
        return
    soabi = parts[1]
    if soabi.startswith("cpython"):
        pieces = soabi.split("-")
        if len(pieces) < 2 or not pieces[1]:
            raise SystemError("invalid sysconfig.get_config_var('EXT_SUFFIX')")
        abi = "cp" + pieces[1]
    elif soabi.startswith("cp"):
        abi = soabi.split("-")[0]
    elif soabi.startswith("pypy"):
        abi = "-".join(soabi.split("-")[:2])
    elif soabi.startswith("graalpy"):
        abi = "-".join(soabi.split("-")[:3])
    elif soabi:
        abi = soabi
    else:
        return
    yield _normalize(abi)


def _py_range(version: tuple[int, ...]) -> Iterator[str]:
    yield "py" + _nodot(version[:2])
    yield f"py{version[0]}"
    for minor in range(version[1] - 1, -1, -1):
        yield "py" + _nodot((version[0], minor))


def _compatible_tags(version: tuple[int, ...], interpreter: str | None,
                     platforms: list[str]) -> Iterator[str]:
    for py in _py_range(version):
        for plat in platforms:
            yield py + "-none-" + plat
    if interpreter:
        yield interpreter + "-none-any"
    for py in _py_range(version):
        yield py + "-none-any"


# -- PEP 425: platforms -----------------------------------------------------------------------
def _platforms() -> Iterator[str]:
    system = platform.system()
    if system == "Darwin":
        return _mac_platforms()
    if system == "Linux":
        return _linux_platforms()
    if system == "iOS":
        return _ios_platforms()
    if system == "Android":
        return _android_platforms()
    if system == "Emscripten":
        return _emscripten_platforms()
    return iter([_normalize(sysconfig.get_platform())])


def _linux_platforms() -> Iterator[str]:
    linux = _normalize(sysconfig.get_platform())
    if not linux.startswith("linux_"):
        yield linux
        return
    if _IS_32BIT:
        linux = {"linux_x86_64": "linux_i686", "linux_aarch64": "linux_armv8l"}.get(linux, linux)
    arch = linux.split("_", 1)[1]
    archs = ["armv8l", "armv7l"] if arch == "armv8l" else [arch]
    for one in archs:
        yield "linux_" + one
    yield from _manylinux_platforms(archs)
    musl = _musl_version(sys.executable)
    if musl is not None:
        for one in archs:
            for minor in range(musl[1], -1, -1):
                yield f"musllinux_{musl[0]}_{minor}_{one}"


def _glibc_version() -> tuple[int, int]:
    text = None
    try:
        found = os.confstr("CS_GNU_LIBC_VERSION")
        if found:
            text = found.rsplit()[1]
    except (AttributeError, OSError, ValueError, IndexError):
        text = None
    if text is None:
        try:
            import ctypes

            function = ctypes.CDLL(None).gnu_get_libc_version
            function.restype = ctypes.c_char_p
            raw = function()
            text = raw.decode("ascii") if isinstance(raw, bytes) else raw
        except (ImportError, OSError, AttributeError):
            return (-1, -1)
    match = re.match(r"([0-9]+)\.([0-9]+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else (-1, -1)


def _manylinux_module() -> Any:
    try:
        return __import__("_manylinux")
    except ImportError:
        return None


def _manylinux_compatible(arch: str, version: tuple[int, int], glibc: tuple[int, int],
                          module: Any) -> bool:
    if glibc < version:
        return False
    if module is None:
        return True
    if hasattr(module, "manylinux_compatible"):
        answer = module.manylinux_compatible(version[0], version[1], arch)
        return True if answer is None else bool(answer)
    legacy = {(2, 5): "manylinux1_compatible", (2, 12): "manylinux2010_compatible",
              (2, 17): "manylinux2014_compatible"}.get(version)
    if legacy and hasattr(module, legacy):
        return bool(getattr(module, legacy))
    return True


def _manylinux_platforms(archs: list[str]) -> Iterator[str]:
    if "armv7l" in archs:
        usable = _elf_matches(sys.executable, machine=40, armhf=True)
    elif "i686" in archs:
        usable = _elf_matches(sys.executable, machine=3)
    else:
        usable = any(arch in _MANYLINUX_ARCHS for arch in archs)
    if not usable:
        return
    oldest = (2, 4) if set(archs) & {"x86_64", "i686"} else (2, 16)
    glibc = _glibc_version()
    module = _manylinux_module()
    maxima = [glibc] + [(major, 50) for major in range(glibc[0] - 1, 1, -1)]
    for arch in archs:
        for top in maxima:
            floor = oldest[1] if top[0] == oldest[0] else -1
            for minor in range(top[1], floor, -1):
                version = (top[0], minor)
                if _manylinux_compatible(arch, version, glibc, module):
                    yield f"manylinux_{version[0]}_{version[1]}_{arch}"
                    legacy = _LEGACY_MANYLINUX.get(version)
                    if legacy:
                        yield f"{legacy}_{arch}"


def _read_elf(path: str) -> dict[str, Any] | None:
    """The fields of an ELF executable venvd needs (class, data, machine, flags, interpreter);
    None if `path` is not a readable ELF file."""
    try:
        with open(path, "rb") as handle:
            ident = handle.read(16)
            if len(ident) < 16 or ident[:4] != b"\x7fELF":
                return None
            elf_class, encoding = ident[4], ident[5]
            order = {1: "<", 2: ">"}.get(encoding)
            if order is None or elf_class not in (1, 2):
                return None
            if elf_class == 1:
                head, entry, at = "HHIIIIIHHH", "IIIIIIII", (0, 1, 4)
            else:
                head, entry, at = "HHIQQQIHHH", "IIQQQQQQ", (0, 2, 5)
            raw = handle.read(struct.calcsize(order + head))
            fields = struct.unpack(order + head, raw)
            machine, phoff, flags, phentsize, phnum = (fields[1], fields[4], fields[6],
                                                       fields[8], fields[9])
            interpreter = None
            for index in range(phnum):
                handle.seek(phoff + phentsize * index)
                data = handle.read(struct.calcsize(order + entry))
                try:
                    header = struct.unpack(order + entry, data)
                except struct.error:
                    continue
                if header[at[0]] == 3:  # PT_INTERP
                    handle.seek(header[at[1]])
                    interpreter = os.fsdecode(handle.read(header[at[2]])).strip("\0")
                    break
    except (OSError, struct.error, ValueError):
        return None
    return {"class": elf_class, "data": encoding, "machine": machine, "flags": flags,
            "interpreter": interpreter}


def _elf_matches(path: str, machine: int, armhf: bool = False) -> bool:
    """A 32-bit little-endian executable for `machine` (EM_386 3, EM_ARM 40), with the
    hard-float EABI5 flags when `armhf`."""
    elf = _read_elf(path)
    if elf is None or elf["class"] != 1 or elf["data"] != 1 or elf["machine"] != machine:
        return False
    if armhf:
        flags = int(elf["flags"])
        return flags & 0xFF000000 == 0x05000000 and flags & 0x400 == 0x400
    return True


def _musl_version(executable: str) -> tuple[int, int] | None:
    """The musl version of the loader `executable` names, by running the loader (PEP 656)."""
    elf = _read_elf(executable)
    loader = elf["interpreter"] if elf else None
    if not loader or "musl" not in loader:
        return None
    import subprocess

    try:
        out = subprocess.run([loader], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             text=True, check=False).stderr
    except OSError:
        return None
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    if len(lines) < 2 or lines[0][:4] != "musl":
        return None
    match = re.match(r"Version (\d+)\.(\d+)", lines[1])
    return (int(match.group(1)), int(match.group(2))) if match else None


def _mac_binary_formats(version: tuple[int, int], arch: str) -> list[str]:
    formats = [arch]
    if arch == "x86_64":
        if version < (10, 4):
            return []
        formats += ["intel", "fat64", "fat3"]
    elif arch == "i386":
        if version < (10, 4):
            return []
        formats += ["intel", "fat3", "fat"]
    elif arch == "ppc64":
        if version > (10, 5) or version < (10, 4):
            return []
        formats.append("fat64")
    elif arch == "ppc":
        if version > (10, 6):
            return []
        formats += ["fat3", "fat"]
    if arch in ("arm64", "x86_64"):
        formats.append("universal2")
    if arch in ("x86_64", "i386", "ppc64", "ppc", "intel"):
        formats.append("universal")
    return formats


def _mac_platforms() -> Iterator[str]:
    text, _, arch = platform.mac_ver()
    version = tuple(int(part) for part in text.split(".")[:2])
    if version == (10, 16):
        # Built against an old SDK, Python says 10.16 for every macOS 11+: ask without the
        # compatibility shim.
        import subprocess

        text = subprocess.run(
            [sys.executable, "-sS", "-c", "import platform; print(platform.mac_ver()[0])"],
            check=True, env={"SYSTEM_VERSION_COMPAT": "0"}, stdout=subprocess.PIPE,
            text=True).stdout
        version = tuple(int(part) for part in text.split(".")[:2])
    if _IS_32BIT:
        arch = "ppc" if arch.startswith("ppc") else "i386"
    major, minor = version[0], version[1]
    if (10, 0) <= (major, minor) < (11, 0):
        for one in range(minor, -1, -1):
            for fmt in _mac_binary_formats((10, one), arch):
                yield f"macosx_10_{one}_{fmt}"
    if (major, minor) >= (11, 0):
        for one in range(major, 10, -1):
            for fmt in _mac_binary_formats((one, 0), arch):
                yield f"macosx_{one}_0_{fmt}"
        for one in range(16, 3, -1):
            # x86_64 runs binaries of every earlier release; arm64 only universal2 ones.
            formats = _mac_binary_formats((10, one), arch) if arch == "x86_64" else ["universal2"]
            for fmt in formats:
                yield f"macosx_10_{one}_{fmt}"


def _ios_platforms() -> Iterator[str]:
    release = platform.ios_ver()[1]  # type: ignore[attr-defined,unused-ignore]  # 3.13+
    major, minor = (int(part) for part in release.split(".")[:2])
    multiarch = sys.implementation._multiarch.replace("-", "_")
    if major < 12:
        return
    yield f"ios_{major}_{minor}_{multiarch}"
    for one in range(minor - 1, -1, -1):
        yield f"ios_{major}_{one}_{multiarch}"
    for older in range(major - 1, 11, -1):
        for one in range(9, -1, -1):
            yield f"ios_{older}_{one}_{multiarch}"


def _android_platforms() -> Iterator[str]:
    level = platform.android_ver().api_level  # type: ignore[attr-defined]
    abi = _normalize(sysconfig.get_platform().split("-")[-1])
    for one in range(level, 15, -1):
        yield f"android_{one}_{abi}"


def _emscripten_platforms() -> Iterator[str]:
    version = _config("PYEMSCRIPTEN_PLATFORM_VERSION")
    if version:
        yield f"pyemscripten_{version}_wasm32"
    yield _normalize(sysconfig.get_platform())


# -- the venv layout --------------------------------------------------------------------------
def venv_paths() -> dict[str, str]:
    """Install paths of a venv made by this interpreter, relative to its root ("/"-separated):
    the ``venv`` sysconfig scheme where there is one (3.11+), else the prefix scheme the venv
    module of 3.8-3.10 lays out (``posix_prefix``; ``nt`` on Windows)."""
    names = sysconfig.get_scheme_names()
    scheme = "venv" if "venv" in names else ("nt" if os.name == "nt" else "posix_prefix")
    root = os.path.join(os.sep, "__venvd_root__")
    keys = ("base", "platbase", "installed_base", "installed_platbase")
    paths = sysconfig.get_paths(scheme, vars={key: root for key in keys})
    found = {}
    for key in ("purelib", "platlib", "scripts", "include", "data"):
        rel = os.path.relpath(paths[key], root)
        found[key] = "" if rel == os.curdir else rel.replace(os.sep, "/")
    return found


if __name__ == "__main__":
    sys.stdout.write(json.dumps(describe()))
