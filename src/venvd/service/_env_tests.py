"""Tests a request carries (a conda recipe's `test:` section), run in the environment it built.

`tests_for_target` decides whether they can run here: only when the target is the server's own
platform (same Python version, implementation, OS and machine, and the target's most preferred tag
among this interpreter's tags); otherwise they are recorded as not run, with the reason.

`run_tests` materializes the artifact into a private directory with the server's interpreter and
runs each import (``DEST/bin/python -c "import X"``), then each command (``/bin/sh -c CMD`` with
``PATH=DEST/bin:/usr/bin:/bin`` and ``VIRTUAL_ENV=DEST``), in order, stopping at the first failure.
They run in the build sandbox (`venvd.sandbox`): bubblewrap without network, the system read-only,
the venv read-only at its own path (its scripts' shebangs name it), a private /tmp, the working
directory a scratch /build; one time limit for all of them (`test_timeout`). Where bubblewrap is
missing they run unsandboxed exactly when sdist builds would (`Sandbox.without_bwrap`).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from venvd.errors import BuildError
from venvd.sandbox import Sandbox
from venvd.target import Target

__all__ = ["TAIL_BYTES", "not_run_reason", "run_tests"]

TAIL_BYTES = 4096  # of a test's output kept in the status document


def not_run_reason(target: Target) -> str | None:
    """Why tests cannot run here for `target` (it is not this server's platform); None if they can."""
    here = Target.current()
    keys = ("python_full_version", "implementation_name", "sys_platform", "platform_machine")
    same = all(target.marker_environment.get(k) == here.marker_environment.get(k) for k in keys)
    if same and target.compatible_tags and target.compatible_tags[0] in set(here.compatible_tags):
        return None
    return (f"the target ({_describe(target)}) is not this server's platform ({_describe(here)}): "
            "its tests can only run on a machine of that platform")


def _describe(target: Target) -> str:
    env = target.marker_environment
    tag = str(target.compatible_tags[0]) if target.compatible_tags else "no tags"
    return (f"{env.get('implementation_name', '?')} {env.get('python_full_version', '?')} "
            f"{env.get('sys_platform', '?')} {env.get('platform_machine', '?')}, {tag}")


def run_tests(archive: Path, tests: dict[str, Any], *, sandbox: Sandbox,
              timeout: float) -> dict[str, Any]:
    """Run `tests` (``{"imports": [...], "commands": [...]}``) in the environment of `archive`;
    the tests document ``{"status": "passed"|"failed", "results": [{"kind", "text", "returncode",
    "seconds", "output_tail"}]}`` (returncode None and ``killed`` when the time limit ended it).
    BuildError(step="tests") when bubblewrap is missing and the sandbox refuses to run without."""
    from venvd.materialize import materialize
    from venvd.sandbox._isolation import bwrap_path

    bwrap = bwrap_path()
    if bwrap is None and sandbox.without_bwrap == "refuse":
        raise BuildError("cannot run the environment's tests: bubblewrap (bwrap) is not installed, "
                         "and this server runs tests only sandboxed (start it with --unsafe-builds)",
                         step="tests")
    work = Path(tempfile.mkdtemp(prefix="venvd-tests-", dir=sandbox.work_dir)).resolve()
    try:
        dest = work / "venv"
        materialize(archive, dest, python=sys.executable, verify=False)
        for name in ("scratch", "home", "tmp"):
            (work / name).mkdir()
        deadline = time.monotonic() + timeout
        planned = [("import", m) for m in tests.get("imports", [])]
        planned += [("command", c) for c in tests.get("commands", [])]
        results: list[dict[str, Any]] = []
        for number, (kind, text) in enumerate(planned):
            result = _run_one(kind, text, work, dest, number, bwrap, sandbox, deadline, timeout)
            results.append(result)
            if result["returncode"] != 0:
                return {"status": "failed", "results": results}
        return {"status": "passed", "results": results}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_one(kind: str, text: str, work: Path, dest: Path, number: int, bwrap: str | None,
             sandbox: Sandbox, deadline: float, timeout: float) -> dict[str, Any]:
    from venvd.sandbox._isolation import BUILD_ROOT, bwrap_command
    from venvd.sandbox._process import run_child

    argv = ([str(dest / "bin" / "python"), "-c", f"import {text}"] if kind == "import"
            else ["/bin/sh", "-c", text])
    env = {"PATH": f"{dest}/bin:/usr/bin:/bin", "VIRTUAL_ENV": str(dest), "LANG": "C.UTF-8",
           "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}
    scratch = work / "scratch"
    limits = sandbox.limits
    child_env: dict[str, str] | None
    if bwrap is not None:
        env.update({"HOME": "/tmp", "TMPDIR": "/tmp", "PWD": BUILD_ROOT})
        cmd = bwrap_command(bwrap, build_dir=scratch, inputs=[], tmp_bytes=limits.tmp_mb * 1024**2,
                            env=env, argv=argv, hidden=sandbox.hidden, read_only=[dest])
        child_env = {}
    else:
        env.update({"HOME": str(work / "home"), "TMPDIR": str(work / "tmp")})
        cmd, child_env = argv, env
    log = work / f"test-{number}.log"
    started = time.perf_counter()
    outcome = run_child(cmd, env=child_env, cwd=scratch, log=log, deadline=deadline, watch=scratch,
                        max_disk_bytes=limits.disk_mb * 1024**2,
                        max_processes=limits.max_processes + 8)
    result: dict[str, Any] = {
        "kind": kind,
        "text": text,
        "returncode": outcome.returncode,
        "seconds": round(time.perf_counter() - started, 3),
        "output_tail": _tail(log),
    }
    if outcome.killed is not None:
        result["killed"] = outcome.killed
        why = (f"the tests' time limit ({timeout:g} s, the test_timeout setting) ran out"
               if outcome.killed == "timeout" else "it wrote more than the build disk limit")
        result["output_tail"] = (result["output_tail"] + f"\n[venvd: stopped: {why}]")[-TAIL_BYTES:]
    return result


def _tail(log: Path) -> str:
    try:
        with log.open("rb") as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - TAIL_BYTES))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
