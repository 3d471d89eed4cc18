"""Does an interpreter match a target? Checked before anything is downloaded or created.

The interpreter must have the target's major.minor, implementation, sys_platform and ABI (the
interpreter and ABI parts of its most specific tag, e.g. ``cp311-cp311`` vs ``cp313-cp313t``). The
interpreter describes itself in a child process with our `packaging` on its path, so it need not
have packaging installed; one too old for packaging (Python 2) is compared without the ABI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from venvd.errors import IncompatibleInterpreter, InputError

__all__ = ["check_interpreter", "describe"]

_PROBE = r"""
import json, sys
info = {"version": "%d.%d" % sys.version_info[:2],
        "full_version": "%d.%d.%d" % sys.version_info[:3],
        "implementation": getattr(getattr(sys, "implementation", None), "name", ""),
        "sys_platform": sys.platform, "tag": None}
try:
    from packaging.tags import sys_tags
    tag = next(iter(sys_tags()))
    info["tag"] = tag.interpreter + "-" + tag.abi
except Exception:
    pass
sys.stdout.write(json.dumps(info))
"""


def describe(python: str) -> dict[str, Any]:
    """What `python` is: version, full_version, implementation, sys_platform, tag (interp-abi)."""
    if _same_interpreter(python):
        from packaging.markers import default_environment
        from packaging.tags import sys_tags

        tag = next(iter(sys_tags()))
        env = default_environment()
        return {"version": env["python_version"], "full_version": env["python_full_version"],
                "implementation": sys.implementation.name, "sys_platform": sys.platform,
                "tag": f"{tag.interpreter}-{tag.abi}"}
    import packaging

    # Our own `packaging` on its path: the interpreter need not have it installed.
    child_env = {"PYTHONPATH": str(Path(packaging.__file__).parent.parent),
                 "PATH": "/usr/bin:/bin"}
    try:
        out = subprocess.run([python, "-c", _PROBE], env=child_env, capture_output=True, text=True,
                             timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"cannot run interpreter {python}: {exc}", python=python) from None
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"cannot run interpreter {python}: {last}", python=python)
    info: dict[str, Any] = json.loads(out.stdout)
    return info


def check_interpreter(target_json: dict[str, Any], python: str) -> None:
    """Raise IncompatibleInterpreter if `python` cannot run a venv built for `target_json`
    (a complete platform object); InputError if `python` cannot be run at all."""
    env = target_json.get("marker_environment") or {}
    tags = target_json.get("compatible_tags") or []
    info = describe(python)
    problems = []
    wanted_version = env.get("python_version")
    if wanted_version and wanted_version != info["version"]:
        problems.append(f"Python {wanted_version} is wanted, it is Python {info['version']}")
    wanted_impl = env.get("implementation_name")
    if wanted_impl and info["implementation"] and wanted_impl != info["implementation"]:
        problems.append(f"{wanted_impl} is wanted, it is {info['implementation']}")
    wanted_platform = env.get("sys_platform")
    if wanted_platform and wanted_platform != info["sys_platform"]:
        problems.append(
            f"sys_platform {wanted_platform} is wanted, it runs on {info['sys_platform']}")
    if tags and info.get("tag") and not problems:
        interp, abi = str(tags[0]).split("-")[:2]
        if f"{interp}-{abi}" != info["tag"]:
            problems.append(f"the ABI {interp}-{abi} is wanted, it has {info['tag']}")
    if problems:
        raise IncompatibleInterpreter(
            f"the interpreter {python} does not match the environment's target: "
            + "; ".join(problems), python=python, problems=problems)


def _same_interpreter(python: str) -> bool:
    try:
        return Path(python).resolve() == Path(sys.executable).resolve()
    except OSError:
        return False
