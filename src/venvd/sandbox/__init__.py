"""The one sdist build sandbox, used by the metadata build (`venvd.index`) and the wheel build
(`venvd.builder`); it imports neither.

    sandbox = Sandbox(requirements=provide_wheels, limits=Limits(timeout=300))
    metadata = sandbox.build_metadata(sdist, package="docopt")
    wheel = sandbox.build_wheel(sdist, out_dir, package="docopt")

A build runs a stranger's code, so it runs in bubblewrap: no network, a read-only view of the system
and of the interpreter, only its build directory writable, a private size-limited /tmp, no view of
the data dir, store, caches, home or environment, uid 65534, its own PID namespace, rlimits (address
space, CPU, file size, processes) and a wall clock; the server checks the build directory's size.
Build requirements never come from the network inside the sandbox: `requirements` (the service
wires venvd's resolver and hash-checking index client) provides wheels, installed offline.

The wheel is built by the server's own interpreter, so a platform-specific wheel fits only targets
that the server's platform is compatible with; `build_key()` names that interpreter.
"""

from __future__ import annotations

from functools import cache

from ._isolation import bwrap_path
from ._sandbox import BuildRequirements, Limits, Sandbox, WithoutBwrap
from ._source import DEFAULT_REQUIRES

__all__ = ["DEFAULT_REQUIRES", "BuildRequirements", "Limits", "Sandbox", "WithoutBwrap",
           "build_key", "bwrap_path"]


@cache
def build_key() -> str:
    """The building interpreter's most specific tag, e.g. ``cp311-cp311-manylinux_2_36_x86_64``."""
    from packaging.tags import sys_tags

    return str(next(iter(sys_tags())))
