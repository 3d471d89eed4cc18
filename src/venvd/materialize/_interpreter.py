"""Does an interpreter match a target? Checked before anything is downloaded or created.

The interpreter must have the target's major.minor, implementation, sys_platform and ABI (the
interpreter and ABI parts of its most specific tag, e.g. ``cp311-cp311`` vs ``cp313-cp313t``,
``pp39-pypy39_pp73``). It is described by `venvd.target.probe_interpreter`: the self-contained
probe, run at most once per executable in a process (the running interpreter in-process), so
the check before the download and the one `materialize` repeats on the manifest's target share
the description the target was built from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from venvd.errors import IncompatibleInterpreter
from venvd.target import Interpreter, probe_interpreter

__all__ = ["check_interpreter"]


def check_interpreter(target_json: dict[str, Any], python: str | Interpreter,
                      layout: Mapping[str, Any] | None = None) -> Interpreter:
    """Raise IncompatibleInterpreter if `python` cannot run a venv built for `target_json`
    (a complete platform object), or, given the manifest's `layout`, if its venvs keep
    site-packages or scripts elsewhere than the archive puts them; InputError if `python` cannot
    be run at all. Returns the interpreter's description."""
    info = python if isinstance(python, Interpreter) else probe_interpreter(python)
    env = target_json.get("marker_environment") or {}
    tags = target_json.get("compatible_tags") or []
    have = info.marker_environment
    problems = []
    wanted_version = env.get("python_version")
    if wanted_version and wanted_version != info.python_version:
        problems.append(f"Python {wanted_version} is wanted, it is Python {info.python_version}")
    wanted_impl = env.get("implementation_name")
    if wanted_impl and wanted_impl != info.implementation:
        problems.append(f"{wanted_impl} is wanted, it is {info.implementation}")
    wanted_platform = env.get("sys_platform")
    if wanted_platform and wanted_platform != have.get("sys_platform"):
        problems.append(
            f"sys_platform {wanted_platform} is wanted, it runs on {have.get('sys_platform')}")
    if tags and not problems:
        wanted_abi = "-".join(str(tags[0]).split("-")[:2])
        if wanted_abi != info.interpreter_abi:
            problems.append(f"the ABI {wanted_abi} is wanted, it has {info.interpreter_abi}")
    if layout is not None and not problems:
        for key, ours in (("site_packages", "purelib"), ("scripts", "scripts")):
            wanted = layout.get(key)
            have_dir = info.venv.get(ours)
            if isinstance(wanted, str) and have_dir is not None and wanted != have_dir:
                problems.append(f"the environment puts {key} in {wanted}, its venvs use {have_dir}")
    if problems:
        name = python if isinstance(python, str) else info.path
        raise IncompatibleInterpreter(
            f"the interpreter {name} does not match the environment's target: "
            + "; ".join(problems), python=name, problems=problems)
    return info
