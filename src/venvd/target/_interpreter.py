"""An interpreter a venv is made for, described once per process by the self-contained probe.

Contract of `probe_interpreter(python)`:

- `python` is a path or a name on PATH (a shim such as pyenv's is fine: the answer names the real
  executable behind it).
- The running interpreter (same file as ``sys.executable``) is described in-process: no child.
  Any other runs `venvd.target._probe` once, as ``python -E -s -c <bootstrap> <probe file>``
  (no PYTHON* variables, no user site, the working directory off ``sys.path``); the bootstrap
  answers for Python older than 3.8 without compiling the probe, so a Python 2 gets a clear
  refusal rather than a SyntaxError.
- Answers are remembered per executable file (its path, device, inode, size and mtime), so the
  steps of one ``venvd create`` (target, interpreter check) share one probe; an
  interpreter replaced in place is probed again.
- Raises InputError when `python` cannot be run or gives no description (naming it and the
  first line of its complaint), IncompatibleInterpreter when it is older than 3.8.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from venvd.errors import IncompatibleInterpreter, InputError
from venvd.target._model import Target

__all__ = ["Interpreter", "probe_interpreter", "probe_runs"]

_PROBE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_probe.py")

# Python 2 syntax on purpose (see the module docstring); "" (the working directory) leaves
# sys.path first so that no file there can stand in for a standard module the probe imports.
_BOOTSTRAP = (
    "import sys\n"
    "del sys.path[0]\n"
    "if sys.version_info[:2] < (3, 8):\n"
    "    sys.stdout.write('{\"unsupported\": \"%d.%d.%d\"}' % tuple(sys.version_info[:3]))\n"
    "else:\n"
    "    path = sys.argv[1]\n"
    "    code = compile(open(path, 'rb').read(), path, 'exec')\n"
    "    exec(code, {'__name__': '__main__', '__file__': path})\n"
)

_MEMO_SIZE = 16


@dataclasses.dataclass(frozen=True)
class Interpreter:
    """What venvd knows of one interpreter (see `venvd.target._probe` for each field)."""

    path: str  # as found on PATH or given, absolute
    executable: str  # the interpreter itself: its sys.executable (behind any shim)
    implementation: str  # sys.implementation.name: cpython, pypy ...
    version: tuple[int, int, int]
    marker_environment: Mapping[str, str]
    compatible_tags: tuple[str, ...]  # best first
    venv: Mapping[str, str]  # purelib, platlib, scripts, include, data: relative to a venv root

    def target_json(self) -> dict[str, Any]:
        """The complete platform of this interpreter (pex's shape), as the API takes it.

        A Python built from an untagged checkout says ``3.13.0+``, not a PEP 440 version: it
        becomes ``3.13.0+local``, as packaging repairs it before evaluating markers."""
        env = dict(self.marker_environment)
        full = env.get("python_full_version", "")
        if full.endswith("+"):
            env["python_full_version"] = full + "local"
        return {"marker_environment": env, "compatible_tags": list(self.compatible_tags)}

    @cached_property
    def target(self) -> Target:
        """The `Target` of this interpreter."""
        return Target.from_json(self.target_json())

    @property
    def python_version(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def interpreter_abi(self) -> str:
        """Interpreter and ABI of the most specific tag, e.g. ``cp311-cp311``, ``pp39-pypy39_pp73``."""
        return "-".join(self.compatible_tags[0].split("-")[:2])


_memo: dict[tuple[Any, ...], Interpreter] = {}
_memo_lock = threading.Lock()
_runs = 0


def probe_runs() -> int:
    """How many probe children this process has started (for tests and measurements)."""
    return _runs


def probe_interpreter(python: str) -> Interpreter:
    """Describe `python` (see the module docstring for the contract)."""
    found = shutil.which(python) or python
    path = os.path.abspath(found)
    key = _file_key(path)
    if key is not None:
        with _memo_lock:
            known = _memo.get(key)
        if known is not None:
            return known
    if key is not None and _same_file(path, sys.executable):
        from venvd.target._probe import describe

        info = _from_description(path, {**describe(), "executable": path})
    else:
        info = _from_description(path, _run_probe(python, path))
    with _memo_lock:
        if len(_memo) >= _MEMO_SIZE:
            _memo.pop(next(iter(_memo)))
        for known_key in (key, _file_key(info.executable)):
            if known_key is not None:
                _memo[known_key] = info
    return info


def _file_key(path: str) -> tuple[Any, ...] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _run_probe(python: str, path: str) -> dict[str, Any]:
    global _runs
    _runs += 1
    try:
        out = subprocess.run([path, "-E", "-s", "-c", _BOOTSTRAP, _PROBE_FILE],
                             capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"cannot run interpreter {python}: {reason}", python=python) from None
    if out.returncode != 0 or not out.stdout.strip():
        raise InputError(f"cannot run interpreter {python}: {_complaint(out.stderr)}",
                         python=python)
    try:
        data: dict[str, Any] = json.loads(out.stdout)
    except ValueError:
        raise InputError(f"cannot describe interpreter {python}: it printed "
                         f"{out.stdout.strip()[:80]!r}", python=python) from None
    if "unsupported" in data:
        version = str(data["unsupported"])
        raise IncompatibleInterpreter(
            f"{python} is Python {version}: venvd create needs Python 3.8 or newer to run the "
            f"environment (for older targets, `venvd resolve --python {version}` gives the lock)",
            python=python)
    return data


def _complaint(stderr: str) -> str:
    """The line that says why: a traceback's last line, else the first (a shim's or loader's)."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    if not lines:
        return "no output"
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


def _from_description(path: str, data: dict[str, Any]) -> Interpreter:
    try:
        major, minor, micro = (int(part) for part in data["version"][:3])
        return Interpreter(
            path=path,
            executable=str(data.get("executable") or path),
            implementation=str(data["implementation"]),
            version=(major, minor, micro),
            marker_environment={str(k): str(v) for k, v in data["marker_environment"].items()},
            compatible_tags=tuple(str(tag) for tag in data["compatible_tags"]),
            venv={str(k): str(v) for k, v in data["venv"].items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"cannot describe interpreter {path}: the probe's answer lacks {exc}",
                         python=path) from None
