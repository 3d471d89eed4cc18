"""How a sandboxed child is started: the bubblewrap command line, or none (unsafe builds).

With bubblewrap the child sees: a read-only /usr (and the /bin, /lib* links or directories), the
few files of /etc that the dynamic linker and compilers read, the server's interpreter
(`sys.base_prefix`) and the directories holding the modules the child imports (venvd, build,
pyproject_hooks, packaging, installer), all read-only and at their own paths; the sdist and each
build-requirement wheel read-only under /input; the build directory, read-write, at /build; a
private tmpfs /tmp of bounded size (also its HOME); its own /proc and a minimal /dev. Nothing else:
not the data dir, the store, the caches, the server's home or its environment. It runs with every
namespace unshared (no network: only a loopback of its own), as uid/gid 65534, in its own PID
namespace (the whole tree dies with it, and with the server: --die-with-parent).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path

__all__ = ["BUILD_ROOT", "INPUT_ROOT", "bwrap_command", "bwrap_path", "python_paths"]

BUILD_ROOT = "/build"
INPUT_ROOT = "/input"
SANDBOX_UID = 65534
# Parts of the system a compiler toolchain and the dynamic linker need; all read-only.
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/ld.so.cache",
           "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime",
           "/etc/os-release", "/opt")
# The child imports these; their sys.path entries are mounted (nothing else of the server's env).
_CHILD_MODULES = ("venvd", "build", "pyproject_hooks", "packaging", "installer")


@cache
def bwrap_path() -> str | None:
    """The bubblewrap binary, or None when it is not installed (or not usable: not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    return shutil.which("bwrap") or (os.access("/usr/bin/bwrap", os.X_OK) and "/usr/bin/bwrap") or None


@cache
def python_paths() -> tuple[str, ...]:
    """Directories the child interpreter needs: the base installation, the venv (for its
    pyvenv.cfg) and the sys.path entries holding the modules the child imports."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    paths.add(os.path.dirname(os.path.realpath(sys.executable)))
    for name in _CHILD_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        for location in spec.submodule_search_locations:
            paths.add(os.path.dirname(os.path.realpath(location)))
    # A path inside another one is covered by it.
    ordered = sorted(paths)
    return tuple(p for p in ordered
                 if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in ordered))


def bwrap_command(bwrap: str, *, build_dir: Path, inputs: Sequence[tuple[Path, str]],
                  tmp_bytes: int, env: dict[str, str], argv: Sequence[str],
                  hidden: Sequence[Path] = (), read_only: Sequence[Path] = ()) -> list[str]:
    """The bubblewrap command running `argv` (paths as the child sees them); `inputs` are
    (host file, name under INPUT_ROOT) pairs mounted read-only. A `hidden` directory (the data
    dir, the home) that lies inside a mounted one is covered by an empty tmpfs. `read_only`
    directories are mounted read-only at their own path, after the hidden ones (a built venv under
    the data dir, whose scripts' shebangs name that path)."""
    cmd = [bwrap, "--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID),
           "--gid", str(SANDBOX_UID), "--die-with-parent", "--new-session", "--clearenv"]
    for path in _SYSTEM:
        if os.path.islink(path):
            cmd += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            cmd += ["--ro-bind", path, path]
    # The private /tmp first: an interpreter or venv that lives under the host's /tmp is bound on
    # top of it below, not hidden by it.
    cmd += ["--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    mounted = [*(p for p in _SYSTEM if os.path.exists(p)), *python_paths()]
    for path in python_paths():
        cmd += ["--ro-bind", path, path]
    for directory in hidden:
        real = os.path.realpath(directory)
        if os.path.isdir(real) and any(real.startswith(m.rstrip("/") + "/") for m in mounted):
            cmd += ["--tmpfs", real]
    for directory in read_only:
        cmd += ["--ro-bind", str(directory), str(directory)]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--bind", str(build_dir), BUILD_ROOT]
    for host, name in inputs:
        cmd += ["--ro-bind", str(host), f"{INPUT_ROOT}/{name}"]
    # The server's interpreter path is kept: python finds its prefix from it.
    for key, value in sorted(env.items()):
        cmd += ["--setenv", key, value]
    cmd += ["--chdir", BUILD_ROOT, "--", *argv]
    return cmd
