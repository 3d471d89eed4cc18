"""Build a wheel from an sdist in a sandboxed child process (`_child.py`).

The child runs with a clean environment (PATH, LANG, HOME and TMPDIR in a private temp dir,
SOURCE_DATE_EPOCH, and the pin's index URL for build requirements: no server secrets), its cwd in
that private dir, in its own process group (killed whole at the time limit), under address-space,
CPU and file-size limits. Its output goes to a log whose tail explains a failure.

The wheel is built by the server's own interpreter, so a platform-specific wheel fits only targets
that the server's platform is compatible with; `build_key()` names that interpreter and keys the
built-wheel cache.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

from venvd.errors import BuildError

__all__ = ["build_key", "build_wheel"]

LOG_TAIL_LINES = 40
_MAX_FILE_BYTES = 4 * 1024**3
_STEP_MARK = "##venvd-step "
_SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip file can hold


@cache
def build_key() -> str:
    """The building interpreter's most specific tag, e.g. ``cp311-cp311-manylinux_2_36_x86_64``."""
    from packaging.tags import sys_tags

    return str(next(iter(sys_tags())))


def build_wheel(sdist: Path, out_dir: Path, *, package: str, timeout: float, memory_mb: int,
                index_url: str | None = None) -> Path:
    """Build `sdist` into a wheel moved into `out_dir`; its path.

    Raises BuildError(package, step="build wheel", log_tail) when the build fails or times out.
    """
    with tempfile.TemporaryDirectory(prefix="venvd-build-") as tmp:
        work = Path(tmp)
        for sub in ("home", "tmp", "out"):
            (work / sub).mkdir()
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "HOME": str(work / "home"),
            "TMPDIR": str(work / "tmp"),
            "SOURCE_DATE_EPOCH": _SOURCE_DATE_EPOCH,
        }
        if index_url:
            env["PIP_INDEX_URL"] = env["UV_INDEX_URL"] = index_url
        cmd = [sys.executable, "-I", "-m", "venvd.builder._child", str(sdist.resolve()),
               str(work / "out"), str(int(memory_mb)), str(max(1, int(timeout))),
               str(_MAX_FILE_BYTES)]
        log_path = work / "build.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise BuildError(
                    f"building {package} from {sdist.name} took longer than {timeout:g} s",
                    package=package, step="build wheel", log_tail=_tail(log_path)) from None
            finally:
                if proc.poll() is None:
                    _kill_group(proc)
        if code != 0:
            tail = _tail(log_path)
            failed = _last_step(log_path) or "build"
            how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            raise BuildError(f"building {package} from {sdist.name} failed at {failed} ({how})",
                             package=package, step="build wheel", log_tail=tail)
        wheels = list((work / "out").glob("*.whl"))
        if len(wheels) != 1:
            raise BuildError(f"building {package} from {sdist.name} gave no wheel",
                             package=package, step="build wheel", log_tail=_tail(log_path))
        out_dir.mkdir(parents=True, exist_ok=True)
        final = out_dir / wheels[0].name
        shutil.move(wheels[0], final)
        return final


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the build's whole process group; only called while its leader is not yet reaped, so
    the group id cannot have been reused by an unrelated process."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _lines(log_path: Path) -> list[str]:
    return log_path.read_bytes().decode("utf-8", "replace").splitlines()


def _tail(log_path: Path) -> str:
    lines = [line for line in _lines(log_path) if not line.startswith(_STEP_MARK)]
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _last_step(log_path: Path) -> str | None:
    steps = [line[len(_STEP_MARK):] for line in _lines(log_path) if line.startswith(_STEP_MARK)]
    return steps[-1] if steps else None
