"""Child process: build a wheel from an sdist, inside resource limits.

    python -I -m venvd.builder._child SDIST OUT_DIR MEMORY_MB CPU_SECONDS FILE_BYTES

First lowers its own limits (address space, CPU seconds, file size; POSIX only), then extracts SDIST
(PEP 706 "data" filter: no absolute paths, traversal, links out or devices), creates an isolated
build environment (pypa/build's DefaultIsolatedEnv; uv as installer when present, else pip),
installs the build requirements and calls the backend's `build_wheel` into OUT_DIR.

The parent (`_sandbox.py`) owns the wall-clock timeout, the clean environment and the private temp
dir. Each step is announced on stderr as ``##venvd-step <name>`` so the parent can say which failed.
Exit status 0 means exactly one wheel is in OUT_DIR.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

from venvd._sdist import isolated_builder

STEP_MARK = "##venvd-step "


def _step(name: str) -> None:
    sys.stderr.write(f"{STEP_MARK}{name}\n")
    sys.stderr.flush()


def _limit(memory_mb: int, cpu_seconds: int, file_bytes: int) -> None:
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the parent's timeout still applies
        return
    wanted = [
        (resource.RLIMIT_AS, memory_mb * 1024 * 1024, memory_mb * 1024 * 1024),
        # The soft CPU limit sends SIGXCPU; the hard one, a little later, SIGKILL.
        (resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 5),
        (resource.RLIMIT_FSIZE, file_bytes, file_bytes),
    ]
    for which, soft, hard in wanted:
        _old_soft, old_hard = resource.getrlimit(which)
        if old_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, old_hard), min(hard, old_hard)
        resource.setrlimit(which, (soft, hard))


def build(sdist: Path, out_dir: Path, work: Path) -> None:
    with isolated_builder(sdist, work / "src", _step) as builder:
        _step("build_wheel")
        builder.build("wheel", out_dir)
    wheels = [p for p in out_dir.iterdir() if p.name.endswith(".whl")]
    if len(wheels) != 1:
        raise RuntimeError(f"the backend produced {len(wheels)} wheels, expected one")


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        sys.stderr.write("usage: python -m venvd.builder._child SDIST OUT_DIR MEMORY_MB "
                         "CPU_SECONDS FILE_BYTES\n")
        return 2
    sdist, out_dir = Path(argv[0]), Path(argv[1])
    try:
        _limit(int(argv[2]), int(argv[3]), int(argv[4]))
        build(sdist, out_dir, out_dir.parent)
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
