"""Is the new venv consistent and importable?

`dependency_problems`: like ``pip check``, from the venv's installed metadata (read here, with
`importlib.metadata.distributions(path=[site-packages])`, markers evaluated for the environment's
target): every requested project is installed in a version its requirement allows, and every
installed distribution's requirements (with the extras asked of it, transitively) are satisfied.

`import_problems`: each top-level module of the requested projects (``top_level.txt``, else the
top-level names in RECORD) imports in the venv's own interpreter, in one child process.

`environment_problems` does both with one scan of the installed metadata, the dependency check
running while the child imports.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from venvd.target import Target

__all__ = ["dependency_problems", "environment_problems", "import_problems", "installed",
           "top_level_modules"]

_IMPORT = r"""
import importlib, json, sys, traceback
failed = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failed[name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
sys.stdout.write(json.dumps(failed))
"""


def installed(site_packages: Path) -> dict[str, importlib.metadata.Distribution]:
    """The distributions installed in `site_packages`, by canonical name."""
    found: dict[str, importlib.metadata.Distribution] = {}
    for dist in importlib.metadata.distributions(path=[str(site_packages)]):
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonicalize_name(name), dist)
    return found


def dependency_problems(site_packages: Path, target: Target, roots: list[str],
                        dists: dict[str, importlib.metadata.Distribution] | None = None) -> list[str]:
    """What is missing or in a wrong version (empty when consistent); `dists` is `installed`'s
    answer if the caller has it."""
    if dists is None:
        dists = installed(site_packages)
    problems: list[str] = []
    queue: list[tuple[str, frozenset[str]]] = [(name, frozenset()) for name in sorted(dists)]
    for text in roots:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if not target.evaluate(req.marker):
            continue
        problem = _unsatisfied(req, dists, "the request")
        if problem:
            problems.append(problem)
        else:
            queue.append((canonicalize_name(req.name), frozenset(req.extras)))
    seen: set[tuple[str, frozenset[str]]] = set()
    while queue:
        name, extras = queue.pop()
        if (name, extras) in seen or name not in dists:
            continue
        seen.add((name, extras))
        dist = dists[name]
        for text in dist.requires or []:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if not target.evaluate(req.marker, extras):
                continue
            problem = _unsatisfied(req, dists, f"{name} {dist.version}")
            if problem:
                problems.append(problem)
            elif req.extras:
                queue.append((canonicalize_name(req.name), frozenset(req.extras)))
    return sorted(set(problems))


def _unsatisfied(req: Requirement, dists: dict[str, importlib.metadata.Distribution],
                 who: str) -> str | None:
    found = dists.get(canonicalize_name(req.name))
    spec = f"{req.name}{req.specifier}"
    if found is None:
        return f"{who} requires {spec}, which is not installed"
    if req.specifier and not req.specifier.contains(found.version, prereleases=True):
        return f"{who} requires {spec}, but {found.version} is installed"
    return None


def top_level_modules(site_packages: Path, project: str,
                      dists: dict[str, importlib.metadata.Distribution] | None = None) -> list[str]:
    """Importable top-level names of an installed project (empty if it is not installed)."""
    dist = (installed(site_packages) if dists is None else dists).get(canonicalize_name(project))
    if dist is None:
        return []
    names: set[str] = set()
    text = dist.read_text("top_level.txt")
    if text:
        names = {line.strip().replace("\\", "/").split("/")[0]
                 for line in text.splitlines() if line.strip()}
    else:
        for file in dist.files or []:
            parts = file.parts
            if not parts or parts[0] == ".." or parts[0] == "__pycache__":
                continue
            first = parts[0]
            if len(parts) > 1:
                if not first.endswith((".dist-info", ".data", ".egg-info")):
                    names.add(first)
            elif first.endswith(".py"):
                names.add(first[:-3])
            elif first.endswith((".so", ".pyd")):
                names.add(first.split(".")[0])
    return sorted(n for n in names if n.isidentifier())


def import_problems(python: Path, modules: list[str], cwd: Path) -> dict[str, str]:
    """Modules that fail to import in `python`, with the error; empty when all import."""
    return _start_imports(python, modules, cwd)()


def environment_problems(site_packages: Path, python: Path, target: Target,
                         roots: list[str]) -> list[str]:
    """Everything wrong with the environment: `dependency_problems`, then one
    ``import <name> failed: <error>`` per failed import of the requested projects' modules."""
    dists = installed(site_packages)
    modules: set[str] = set()
    for text in roots:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if target.evaluate(req.marker):
            modules.update(top_level_modules(site_packages, req.name, dists))
    # The child's start-up and imports take far longer than the check here: run them together.
    collect = _start_imports(python, sorted(modules), site_packages)
    try:
        problems = dependency_problems(site_packages, target, roots, dists)
    finally:
        failed = collect()
    return problems + [f"import {name} failed: {error}" for name, error in sorted(failed.items())]


def _start_imports(python: Path, modules: list[str], cwd: Path) -> Callable[[], dict[str, str]]:
    """Start the import child; the returned function waits for it and gives the failures."""
    if not modules:
        return dict
    # -E -s: no PYTHON* variables, no user site (-I would do, but Python 2 lacks it). -B: a check
    # leaves the venv as extracted (no bytecode for just the modules it happened to import).
    child = subprocess.Popen([str(python), "-E", "-s", "-B", "-c", _IMPORT, *modules], cwd=cwd,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def collect() -> dict[str, str]:
        try:
            out, err = child.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            return {name: "the import check timed out" for name in modules}
        except BaseException:  # interrupted: leave no child importing from a venv being removed
            child.kill()
            child.wait()
            raise
        try:
            failed: dict[str, str] = json.loads(out)
        except ValueError:
            tail = (err.strip().splitlines() or ["no output"])[-1]
            return {name: f"the import check did not run: {tail}" for name in modules}
        return failed

    return collect
