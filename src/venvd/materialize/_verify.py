"""Is the new venv consistent and importable?

`dependency_problems`: like ``pip check``, from the venv's installed metadata (read here, with
`importlib.metadata.distributions(path=[site-packages])`, markers evaluated for the environment's
target): every requested project is installed in a version its requirement allows, and every
installed distribution's requirements (with the extras asked of it, transitively) are satisfied.

`import_problems`: each top-level module of the requested projects (``top_level.txt``, else the
top-level names in RECORD) imports in the venv's own interpreter, in one child process.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from venvd.target import Target

__all__ = ["dependency_problems", "import_problems", "top_level_modules"]

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


def _distributions(site_packages: Path) -> dict[str, importlib.metadata.Distribution]:
    found: dict[str, importlib.metadata.Distribution] = {}
    for dist in importlib.metadata.distributions(path=[str(site_packages)]):
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonicalize_name(name), dist)
    return found


def dependency_problems(site_packages: Path, target: Target, roots: list[str]) -> list[str]:
    """What is missing or in a wrong version (empty when consistent)."""
    dists = _distributions(site_packages)
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


def top_level_modules(site_packages: Path, project: str) -> list[str]:
    """Importable top-level names of an installed project (empty if it is not installed)."""
    dist = _distributions(site_packages).get(canonicalize_name(project))
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
    if not modules:
        return {}
    # -E -s: no PYTHON* variables, no user site (-I would do, but Python 2 lacks it).
    out = subprocess.run([str(python), "-E", "-s", "-c", _IMPORT, *modules], cwd=cwd,
                         capture_output=True, text=True, timeout=600, check=False)
    try:
        failed: dict[str, str] = json.loads(out.stdout)
    except ValueError:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {name: f"the import check did not run: {tail}" for name in modules}
    return failed
