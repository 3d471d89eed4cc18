"""Is the new venv consistent and importable?

`dependency_problems`: like ``pip check``, from the venv's installed metadata (read here, with
`importlib.metadata.distributions(path=[site-packages])`, markers evaluated for the environment's
target): every requested project is installed in a version its requirement allows, and every
installed distribution's requirements (with the extras asked of it, transitively) are satisfied.

`import_problems`: each top-level module of the requested projects (``top_level.txt``, else the
top-level names in RECORD) imports in the venv's own interpreter, in one child process.

`environment_problems` does both with one scan of the installed metadata, the dependency check
running while the child imports.

`manifest_problems` is what a client does with a manifest whose build checked the dependencies
(builder format 3, ``manifest["checked"]``): the server read every installed METADATA when it
built the environment, so the client reports the build's findings, checks that the installed set
(the ``.dist-info`` directories) holds every package of the manifest in its version, and runs the
import check, reading only the requested projects' ``top_level.txt``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from venvd import consistency
from venvd.materialize._checks import PassedChecks, closure_keys
from venvd.target import Target

if TYPE_CHECKING:  # imported where used: only archives of older builders read installed metadata
    import importlib.metadata

__all__ = ["dependency_problems", "environment_problems", "import_problems", "installed",
           "manifest_problems", "top_level_modules"]

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
    import importlib.metadata

    found: dict[str, importlib.metadata.Distribution] = {}
    for dist in importlib.metadata.distributions(path=[str(site_packages)]):
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonicalize_name(name), dist)
    return found


def dependency_problems(site_packages: Path, target: Target, roots: list[str],
                        dists: dict[str, importlib.metadata.Distribution] | None = None) -> list[str]:
    """What is missing or in a wrong version (empty when consistent), by `venvd.consistency`'s
    rules over the venv's installed metadata; `dists` is `installed`'s answer if the caller has
    it."""
    if dists is None:
        dists = installed(site_packages)
    return consistency.dependency_problems(
        {name: (dist.version, dist.requires or []) for name, dist in dists.items()}, target, roots)


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
        if failed and len(modules) > 1:
            # Two projects may not import into one process and still both work: pip (below
            # Python 3.12) imports the standard library's distutils, which setuptools' distutils
            # shim then refuses with an AssertionError. A module that failed beside the others
            # is tried again alone; only what fails alone is a problem.
            alone: dict[str, str] = {}
            for name in sorted(failed):
                alone.update(_start_imports(python, [name], cwd)())
            return alone
        return failed

    return collect


def manifest_problems(dest: Path, python: Path, target: Target, manifest: dict[str, Any],
                      checks: PassedChecks | None = None) -> list[str] | None:
    """Everything wrong with the environment at `dest`, judged from its manifest (see the module
    docstring); None when the manifest carries no build-time check (then use
    `environment_problems`). With `checks`, a requested project whose import check passed before
    on the same files and interpreter (see `_checks`) is not imported again, and the projects
    that pass now are remembered."""
    checked = manifest.get("checked")
    if not isinstance(checked, dict) or not isinstance(checked.get("dependencies"), list):
        return None
    site = str(manifest["layout"]["site_packages"])
    packages = {canonicalize_name(str(p["name"])): p for p in manifest.get("packages") or []}
    by_project: dict[str, list[str]] = {}
    for text in (manifest.get("lock") or {}).get("requirements") or []:
        try:
            req = Requirement(str(text))
        except InvalidRequirement:
            continue
        name = canonicalize_name(req.name)
        package = packages.get(name)
        if package is not None and target.evaluate(req.marker):
            by_project[name] = sorted(_modules_of(dest, site, package.get("files") or []))
    keys = closure_keys(manifest, python, by_project) if checks is not None else None
    if keys is not None and checks is not None:
        keys = {project: key for project, key in keys.items() if not checks.passed(key)}
        by_project = {project: by_project[project] for project in keys}
    modules = sorted({module for names in by_project.values() for module in names})
    collect = _start_imports(python, modules, dest / site)
    try:
        problems = [str(p) for p in checked["dependencies"]]
        present = _dist_infos(dest / site)
        for name, package in sorted(packages.items()):
            found = present.get(name)
            if found is None:
                problems.append(f"{name} {package.get('version')} is not installed (no .dist-info)")
            elif not _same_version(found, str(package.get("version"))):
                problems.append(f"{name} {package.get('version')} is installed as {found}")
    finally:
        failed = collect()
    if keys and checks is not None:
        checks.record(key for project, key in keys.items()
                      if not failed.keys() & set(by_project[project]))
    return problems + [f"import {name} failed: {error}" for name, error in sorted(failed.items())]


def _dist_infos(site_packages: Path) -> dict[str, str]:
    """canonical name -> version of each ``<name>-<version>.dist-info`` directory."""
    found: dict[str, str] = {}
    try:
        names = os.listdir(site_packages)
    except OSError:
        return found
    for entry in names:
        stem, dot, suffix = entry.rpartition(".")
        if dot and suffix == "dist-info":
            name, _, version = stem.partition("-")
            found[canonicalize_name(name)] = version
    return found


def _same_version(found: str, wanted: str) -> bool:
    if found == wanted:
        return True
    try:
        return Version(found) == Version(wanted)
    except InvalidVersion:
        return False


def _modules_of(dest: Path, site: str, files: list[str]) -> set[str]:
    """Top-level importable names of a package: its ``top_level.txt``, else from its files."""
    prefix = site.rstrip("/") + "/"
    inside = [f[len(prefix):] for f in files if isinstance(f, str) and f.startswith(prefix)]
    for rel in inside:
        head, _, tail = rel.partition("/")
        if tail == "top_level.txt" and head.endswith(".dist-info"):
            try:
                text = (dest / site / rel).read_text(errors="replace")
            except OSError:
                break
            names = {line.strip().replace("\\", "/").split("/")[0]
                     for line in text.splitlines() if line.strip()}
            return {n for n in names if n.isidentifier()}
    names = set()
    for rel in inside:
        first, sep, _ = rel.partition("/")
        if sep:
            if not first.endswith((".dist-info", ".data", ".egg-info")) and first != "__pycache__":
                names.add(first)
        elif first.endswith(".py"):
            names.add(first[:-3])
        elif first.endswith((".so", ".pyd")):
            names.add(first.split(".")[0])
    return {n for n in names if n.isidentifier()}
