"""`Sandbox`: build the metadata or a wheel of an sdist, in bubblewrap, offline.

The steps of one build, each bounded by the same wall-clock deadline:

1. the static `build-system.requires` is read from the archive (no code runs), and the provider
   (venvd's own index client and resolver, hash-checked, cached) returns wheels satisfying it;
2. the child, in the sandbox, unpacks the sdist, creates the build environment, installs those
   wheels offline and asks the backend `get_requires_for_build_wheel` (this may run setup.py);
3. the provider returns wheels for what the backend asked for, the child installs them and runs
   the build hook (`prepare_metadata_for_build_wheel`/`build_wheel`).

Failures raise `BuildError` naming the package, the step (the child's last announced one) and
the tail of the build log. Nothing of the build stays behind: its private directory is removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from venvd.errors import BuildError, UpstreamError, VenvdError

from ._child import LIMITS_VARIABLE, STEP_MARK
from ._isolation import BUILD_ROOT, INPUT_ROOT, bwrap_command, bwrap_path
from ._process import ChildResult, run_child
from ._source import static_build_requires

__all__ = ["BuildRequirements", "Limits", "Sandbox", "WithoutBwrap"]

BuildRequirements = Callable[[Sequence[str]], list[Path]]
"""Wheel files (of the whole closure) satisfying requirement strings, for the server's
interpreter; raises a VenvdError when they cannot be had."""

WithoutBwrap = Literal["refuse", "allow", "warn"]

LOG_TAIL_LINES = 40
_SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip file can hold
# Variables an operator may set for the build toolchain; anything else stays out.
_PASSED = ("LANG", "LC_ALL", "TZ", "CC", "CXX", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS",
           "PKG_CONFIG_PATH")
_MAX_METADATA = 16 * 1024 * 1024
_log = logging.getLogger("venvd.sandbox")
_warned = threading.Event()


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds of one sdist build: wall clock and CPU seconds, address space, private /tmp, the
    build directory's size, one file's size, and the number of processes."""

    timeout: float = 600.0
    memory_mb: int = 4096
    tmp_mb: int = 1024
    disk_mb: int = 4096
    file_mb: int = 2048
    max_processes: int = 256


class Sandbox:
    """Builds sdists in bubblewrap (see the module docstring).

    `requirements` provides the build-requirement wheels (None: only sdists without build
    requirements build). `work_dir` holds the private build directories (default: the system temp
    dir). `without_bwrap` says what happens where bubblewrap is missing: "refuse" (a BuildError,
    the server's default), "warn" (warn once, then build unsandboxed as pip would: the embedded
    default on a user's own machine) or "allow" (the operator's --unsafe-builds). `hidden` are
    directories the build must not see even where they lie inside a mounted one (the service
    passes its data dir; the home is always hidden).
    """

    def __init__(self, requirements: BuildRequirements | None = None, *,
                 limits: Limits = Limits(),
                 work_dir: Path | None = None, without_bwrap: WithoutBwrap | None = None,
                 hidden: Sequence[Path] = ()) -> None:
        self.requirements = requirements
        self.hidden = (*(Path(p).resolve() for p in hidden), Path.home())
        self.limits = limits
        self.work_dir = Path(work_dir).resolve() if work_dir is not None else None
        # Unset: the operator's VENVD_UNSAFE_BUILDS (the service passes its settings explicitly).
        self.without_bwrap: WithoutBwrap = without_bwrap or (
            "allow" if os.environ.get("VENVD_UNSAFE_BUILDS", "").lower() in ("1", "true", "yes")
            else "refuse")

    @property
    def isolated(self) -> bool:
        return bwrap_path() is not None

    def build_wheel(self, sdist: Path, out_dir: Path, *, package: str,
                    limits: Limits | None = None) -> Path:
        """Build `sdist` into a wheel moved into `out_dir`; its path. Raises BuildError (step
        "build wheel") or the provider's UpstreamError."""
        what = f"building {package} from {sdist.name}"
        with self._build(sdist, "wheel", package, what, limits or self.limits) as build_dir:
            wheels = list((build_dir / "out").glob("*.whl"))
            if len(wheels) != 1:
                raise BuildError(f"{what} gave no wheel", package=package, step="build wheel")
            out_dir.mkdir(parents=True, exist_ok=True)
            final = out_dir / wheels[0].name
            shutil.move(wheels[0], final)
            return final

    def build_metadata(self, sdist: Path, *, package: str, limits: Limits | None = None) -> bytes:
        """The METADATA bytes the backend produces for `sdist`. Raises BuildError (step: the one
        that failed) or the provider's UpstreamError."""
        what = f"metadata build of {package}"
        with self._build(sdist, "metadata", package, what, limits or self.limits) as build_dir:
            metadata = build_dir / "out" / "METADATA"
            if not metadata.is_file() or metadata.stat().st_size > _MAX_METADATA:
                raise BuildError(f"{what} gave no usable METADATA", package=package,
                                 step="read metadata")
            return metadata.read_bytes()

    # -- one build ----------------------------------------------------------------------------
    def _check_isolation(self, package: str) -> str | None:
        bwrap = bwrap_path()
        if bwrap is not None:
            return bwrap
        if self.without_bwrap == "refuse":
            raise BuildError(
                f"cannot build {package} from source: bubblewrap (bwrap) is not installed, and this "
                "server does not build sdists unsandboxed (install the bubblewrap package, or start "
                "the server with --unsafe-builds)", package=package, step="sandbox")
        if self.without_bwrap == "warn" and not _warned.is_set():
            _warned.set()
            _log.warning("bubblewrap (bwrap) is not installed: building sdists without a sandbox, "
                         "as pip would (their setup code runs as you)")
        return None

    def _build(self, sdist: Path, kind: str, package: str, what: str,
               limits: Limits) -> _BuildDir:
        bwrap = self._check_isolation(package)
        return _BuildDir(self, bwrap, Path(sdist).resolve(), kind, package, what, limits)

    def _provide(self, requires: Sequence[str], package: str, what: str) -> list[Path]:
        if not requires:
            return []
        if self.requirements is None:
            raise BuildError(f"{what} needs build requirements ({', '.join(requires)}) and no "
                             "source of build requirements is configured", package=package,
                             step="fetch build requirements")
        try:
            return [Path(p).resolve() for p in self.requirements(requires)]
        except (BuildError, UpstreamError):
            raise
        except VenvdError as exc:
            raise BuildError(f"{what}: its build requirements ({', '.join(requires)}) cannot be "
                             f"installed: {exc.message}", package=package,
                             step="fetch build requirements") from exc


class _BuildDir:
    """Context manager: runs the whole build on enter, yields the build directory, removes it."""

    def __init__(self, sandbox: Sandbox, bwrap: str | None, sdist: Path, kind: str, package: str,
                 what: str, limits: Limits) -> None:
        self.sandbox, self.bwrap, self.sdist, self.kind = sandbox, bwrap, sdist, kind
        self.package, self.what, self.limits = package, what, limits
        self.work = Path(tempfile.mkdtemp(prefix="venvd-build-", dir=sandbox.work_dir)).resolve()
        self.build_dir = self.work / "build"
        self.log = self.work / "build.log"
        self.deadline = time.monotonic() + limits.timeout

    def __enter__(self) -> Path:
        try:
            self._run_all()
        except BaseException:
            _remove(self.work)
            raise
        return self.build_dir

    def __exit__(self, *exc: object) -> None:
        _remove(self.work)

    def _run_all(self) -> None:
        self.build_dir.mkdir()
        try:
            static = static_build_requires(self.sdist)
        except (OSError, EOFError, ValueError) as exc:  # tarfile errors are OSErrors
            raise BuildError(f"{self.what}: cannot read its build requirements: {exc}",
                             package=self.package, step="read pyproject.toml") from None
        first = self.sandbox._provide(static, self.package, self.what)
        self._child("prepare", first)
        try:
            dynamic = json.loads((self.build_dir / "out" / "requires.json").read_text())
            assert isinstance(dynamic, list) and all(isinstance(r, str) for r in dynamic)
        except (OSError, ValueError, AssertionError):
            raise BuildError(f"{self.what}: the backend's get_requires_for_build_wheel gave no "
                             "list of requirements", package=self.package,
                             step="get_requires_for_build_wheel") from None
        more: list[Path] = []
        if set(dynamic) - set(static):
            have = {_project(p) for p in first}
            more = [p for p in self.sandbox._provide([*static, *dynamic], self.package, self.what)
                    if _project(p) not in have]
        self._child(self.kind, more)

    def _child(self, command: str, wheels: list[Path]) -> None:
        limits = self.limits
        spec = ",".join(str(v) for v in (limits.memory_mb, max(1, int(limits.timeout)),
                                         limits.file_mb * 1024 * 1024, limits.max_processes))
        env = {"SOURCE_DATE_EPOCH": _SOURCE_DATE_EPOCH, "PYTHONNOUSERSITE": "1",
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "PIP_NO_INDEX": "1",
               "PIP_NO_INPUT": "1", "UV_OFFLINE": "1", LIMITS_VARIABLE: spec, "LANG": "C.UTF-8"}
        env.update({k: os.environ[k] for k in _PASSED if k in os.environ})
        python = [sys.executable, "-I", "-m", "venvd.sandbox._child", command]
        if self.bwrap is not None:
            inputs = [(self.sdist, self.sdist.name), *((w, w.name) for w in wheels)]
            env.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp/home",
                        "TMPDIR": "/tmp"})
            argv = [*python, BUILD_ROOT, f"{INPUT_ROOT}/{self.sdist.name}",
                    *(f"{INPUT_ROOT}/{w.name}" for w in wheels)]
            cmd = bwrap_command(self.bwrap, build_dir=self.build_dir, inputs=inputs,
                                tmp_bytes=limits.tmp_mb * 1024 * 1024, env=env, argv=argv,
                                hidden=self.sandbox.hidden)
            child_env: dict[str, str] | None = {}
            # Through a file, so that the build (which sees /proc/1/cmdline) learns no host paths.
            # (bwrap takes options, not the command, from there.)
            split = cmd.index("--")
            args = self.work / "bwrap.args"
            args.write_bytes(b"".join(a.encode() + b"\0" for a in cmd[1:split]))
            cmd = [cmd[0], "--args", "{fd}", *cmd[split:]]
        else:
            env.update({"PATH": os.environ.get("PATH", os.defpath),
                        "HOME": str(self.work / "home"), "TMPDIR": str(self.work / "tmp")})
            cmd = [*python, str(self.build_dir), str(self.sdist), *(str(w) for w in wheels)]
            child_env = env
        with contextlib.ExitStack() as stack:
            fds: tuple[int, ...] = ()
            if self.bwrap is not None:
                handle = stack.enter_context((self.work / "bwrap.args").open("rb"))
                fds = (handle.fileno(),)
                cmd[2] = str(handle.fileno())
            result = run_child(cmd, env=child_env, cwd=self.build_dir, log=self.log,
                               deadline=self.deadline, watch=self.work,
                               max_disk_bytes=limits.disk_mb * 1024 * 1024,
                               max_processes=limits.max_processes + 8, pass_fds=fds)
        self._check(result)

    def _check(self, result: ChildResult) -> None:
        step, tail = _read_log(self.log)
        error_step = "build wheel" if self.kind == "wheel" else step
        if result.killed == "timeout":
            raise BuildError(f"{self.what} took longer than {self.limits.timeout:g} s "
                             f"(timed out during {step})", package=self.package,
                             step=error_step, log_tail=tail)
        if result.killed == "disk":
            raise BuildError(f"{self.what} wrote more than {self.limits.disk_mb} MB into its "
                             f"build directory (during {step})", package=self.package,
                             step=error_step, log_tail=tail)
        code = result.returncode
        if code != 0:
            how = f"killed by signal {-code}" if code is not None and code < 0 else \
                f"exit status {code}"
            raise BuildError(f"{self.what} failed at {step} ({how})", package=self.package,
                             step=error_step, log_tail=tail)


def _project(wheel: Path) -> str:
    try:
        return str(parse_wheel_filename(wheel.name)[0])
    except InvalidWheelFilename:
        return wheel.name


def _read_log(path: Path) -> tuple[str, str]:
    """(last announced step, last lines of the log without step marks)."""
    step, lines = "start", []
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 256 * 1024))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return step, ""
    for line in text.splitlines():
        if line.startswith(STEP_MARK):
            step = line[len(STEP_MARK):].strip()
        else:
            lines.append(line)
    return step, "\n".join(lines[-LOG_TAIL_LINES:])


def _remove(path: Path) -> None:
    """Remove a build's directory even where the build took its permissions away."""
    def retry(func: Callable[..., object], failed: str, _exc: object) -> None:
        try:
            os.chmod(os.path.dirname(failed), stat.S_IRWXU)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, stat.S_IRWXU)
            func(failed)
        except OSError:
            pass

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)  # type: ignore[call-arg,unused-ignore]
    else:
        shutil.rmtree(path, onerror=retry)
