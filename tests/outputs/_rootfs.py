"""A minimal root filesystem holding this machine's Python interpreter, for a base image.

The interpreter is copied at its own absolute paths (its compiled-in prefix and the library path
its loader finds libpython by stay right), with the standard library minus what no test here
imports (tests, GUI, idle, site-packages), and every shared library that `ldd` lists for the
executable and the stdlib's extension modules, copied (links followed) to the paths `ldd` shows.
`/usr/local/bin/pythonX.Y` links to the executable, as in the official python images, so the
export finds it in the base image's layers.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

_SKIP_STDLIB = {"test", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip", "site-packages",
                "dist-packages", "pydoc_data", "__pycache__"}
_LDD_PATH = re.compile(r"(/\S+) \(0x")


def _copy(path: str, root: Path) -> None:
    dest = root / path.lstrip("/")
    if dest.exists():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(os.path.realpath(path), dest)


def _libraries(files: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in range(0, len(files), 50):
        out = subprocess.run(["ldd", *files[chunk:chunk + 50]], capture_output=True, text=True,
                             check=False)
        found.update(_LDD_PATH.findall(out.stdout))
    return found


def python_rootfs(root: Path) -> str:
    """Fill `root`; the interpreter's path in it (/usr/local/bin/pythonX.Y)."""
    executable = os.path.realpath(sys._base_executable)
    stdlib = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["stdlib"]
    _copy(executable, root)

    def ignore(directory: str, names: list[str]) -> set[str]:
        return {n for n in names if n in _SKIP_STDLIB}

    shutil.copytree(stdlib, root / stdlib.lstrip("/"), ignore=ignore, symlinks=False)
    extensions = [str(p) for p in Path(stdlib, "lib-dynload").glob("*.so")]
    for library in _libraries([executable, *extensions]):
        _copy(library, root)
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    link = root / "usr/local/bin" / f"python{version}"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(executable)
    for directory in ("tmp", "proc", "dev"):
        (root / directory).mkdir(exist_ok=True)
    return f"/usr/local/bin/python{version}"
