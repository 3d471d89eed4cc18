"""Import checks already passed, remembered in the client's cache so that a venv made of the same
files is not imported again (the import check is a child interpreter importing the requested
projects: the largest single cost of a warm `venvd create`, and one uv does not pay).

A requested project's check is decided by what its import can see: the interpreter (its real
path, the binary's size and mtime, and the target the manifest describes, which carries the full
Python version the client's probe found), the project's top-level modules, and the fragments
(content digests) of its dependency closure in the lock (when the lock's edges reach every package
of the environment from its roots, as a resolved lock's do; else all of the environment's
fragments), plus every fragment that puts a ``.pth``
file into site-packages (those run at each interpreter start, whatever is imported). Same key,
same files in the venv: the import can only end as it did. Each project is keyed by its own
closure, so a second environment that shares a project's closure with an earlier one skips that
project's check and imports only the new ones.

What the key does not see: an edit of the interpreter's standard library that leaves the binary
as it was, and changes outside the venv that its imports read (environment variables are not
among them: the check runs with ``-E -s``). `--no-verify` skips the check; ``venvd cache clean``
forgets every remembered check.

Layout (``checks-v1``)::

    <cache dir>/checks-v1/<sha256 of the key>     empty files: one per passed check
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["CHECKS_VERSION", "PassedChecks", "closure_keys"]

CHECKS_VERSION = "checks-v1"


class PassedChecks:
    """The passed checks under `root` (the client cache directory)."""

    def __init__(self, root: Path) -> None:
        self.dir = Path(root) / CHECKS_VERSION

    def passed(self, key: str) -> bool:
        return os.path.exists(os.path.join(self.dir, key))

    def record(self, keys: Iterable[str]) -> None:
        """Remember `keys` as passed (best effort: a cache that cannot be written only costs the
        next run its check)."""
        with contextlib.suppress(OSError):
            self.dir.mkdir(parents=True, exist_ok=True)
            for key in keys:
                with open(os.path.join(self.dir, key), "wb"):
                    pass


def _name(text: str) -> str:
    """The canonical project name at the start of a lock dependency (``name``, ``name[extra]`` or
    ``name; marker``)."""
    from packaging.utils import canonicalize_name

    end = len(text)
    for stop in ("[", ";", " ", "(", "<", ">", "=", "!", "~"):
        at = text.find(stop)
        if at != -1:
            end = min(end, at)
    return canonicalize_name(text[:end].strip())


def closure_keys(manifest: dict[str, Any], python: Path,
                 modules: dict[str, list[str]]) -> dict[str, str] | None:
    """The check key of each requested project in `modules` (canonical name -> its top-level
    modules), from the manifest's lock and fragments; None when the interpreter cannot be
    described (then nothing is remembered)."""
    try:
        real = os.path.realpath(python)
        st = os.stat(real)
    except OSError:
        return None
    interpreter = json.dumps([real, st.st_size, st.st_mtime_ns, manifest.get("target")],
                             sort_keys=True, default=str)
    from packaging.utils import canonicalize_name

    fragments: dict[str, str] = {}
    startup: set[str] = set()
    site = str(manifest["layout"]["site_packages"]).rstrip("/") + "/"
    for package in manifest.get("packages") or []:
        name = canonicalize_name(str(package.get("name")))
        digest = str((package.get("fragment") or {}).get("sha256"))
        fragments[name] = digest
        for path in package.get("files") or []:
            if (isinstance(path, str) and path.endswith(".pth") and path.startswith(site)
                    and "/" not in path[len(site):]):
                startup.add(digest)
    graph: dict[str, list[str]] = {}
    for entry in (manifest.get("lock") or {}).get("packages") or []:
        deps = [_name(str(d)) for d in entry.get("dependencies") or []]
        graph[canonicalize_name(str(entry.get("name")))] = deps
    roots = [_name(str(r)) for r in (manifest.get("lock") or {}).get("requirements") or []]
    # The lock's edges are trusted only where they account for the whole environment: a resolved
    # lock reaches every package from its roots, while one without edges (a hand-written lock, a
    # pylock.toml without dependencies) does not; then each project is keyed by every fragment.
    whole = set(fragments.values())
    trusted = _reachable(graph, roots) == fragments.keys()
    keys = {}
    for project, names in modules.items():
        closure = _reachable(graph, [project])
        digests = ({fragments[n] for n in closure}
                   if trusted and closure <= fragments.keys() else whole)
        text = json.dumps([interpreter, project, sorted(names), sorted(digests | startup)])
        keys[project] = hashlib.sha256(text.encode()).hexdigest()
    return keys


def _reachable(graph: dict[str, list[str]], start: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(graph.get(current, ()))
    return seen
