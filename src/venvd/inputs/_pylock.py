"""PEP 751 ``pylock.toml`` → venvd's JSON lock for one target.

The document is validated by `packaging.pylock` (lock-version, names, file names against package
names and versions, one source per package), then `Pylock.select` — the PEP's installer algorithm —
evaluates ``environments``, ``requires-python``, each package's ``marker`` (with the extras and
dependency groups asked) and picks each package's file for the target's marker environment and
tags (the best wheel, else the sdist). Works for locks written by uv (``uv export --format
pylock.toml``, ``uv pip compile -o pylock.toml``), pip (``pip lock``) and venvd itself.

The result is a JSON lock (see `venvd.lock`) whose target is the request's target: the server then
checks every file against its own indexes' listing, as for any posted lock. What a server cannot
take is refused, naming the package: local paths, VCS/directory/archive sources, files without
a sha256 hash.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC
from typing import Any

from packaging.utils import canonicalize_name

from venvd.inputs._document import Document
from venvd.inputs._pyproject import line_of, load_toml

__all__ = ["parse_pylock", "pylock_to_lock"]


def parse_pylock(text: str, file: str = "pylock.toml") -> Document:
    """A pylock document, its TOML parsed and validated; InvalidDocument naming what is wrong."""
    from packaging.pylock import Pylock, PylockValidationError

    doc = Document(kind="pylock.toml", file=file)
    data = load_toml(doc, text)
    try:
        Pylock.from_dict(data)
    except (PylockValidationError, ValueError, TypeError) as exc:
        raise doc.error(f"not a valid PEP 751 lock: {exc}", _line_of_context(text, str(exc))) from None
    doc.lock = data
    tool = (data.get("tool") or {}).get("venvd") or {}
    doc.requirements = [r for r in tool.get("requirements") or [] if isinstance(r, str)]
    return doc


def pylock_to_lock(doc: Document, target: Any, *, extras: Iterable[str] = (),
                   all_extras: bool = False, groups: Iterable[str] | None = None,
                   text: str = "") -> dict[str, Any]:
    """The JSON lock `doc` (a parsed pylock) selects for `target` (a `venvd.target.Target`), with
    `extras` (`all_extras`: every extra the lock declares) and dependency `groups` (None: the
    lock's default groups); InvalidDocument when the target is not one the lock is for, or a
    selected package cannot be installed by a server."""
    from packaging.pylock import (
        PackageSdist,
        PackageWheel,
        Pylock,
        PylockSelectError,
        PylockValidationError,
    )

    assert doc.lock is not None
    pylock = Pylock.from_dict(doc.lock)
    if all_extras:
        extras = [*extras, *(pylock.extras or ())]
    environment = dict(target.marker_environment)
    try:
        selected = list(pylock.select(environment=environment,  # type: ignore[arg-type]
                                      tags=list(target.compatible_tags), extras=list(extras),
                                      dependency_groups=None if groups is None else list(groups)))
    except PylockSelectError as exc:
        raise doc.error(f"does not fit the target ({_describe(environment)}): {exc}") from None
    except (PylockValidationError, ValueError) as exc:
        # ValueError: packaging's marker evaluation (a marker naming an unknown variable)
        raise doc.error(f"not a valid PEP 751 lock: {exc}") from None
    names = {p.name for p, _ in selected}
    depended: set[str] = set()
    packages = []
    for package, dist in selected:
        line = line_of(text, f'"{package.name}"')
        if not isinstance(dist, (PackageWheel, PackageSdist)):
            raise doc.error(f"package {package.name} comes from a {type(dist).__name__[7:].lower()} "
                            "source: a server installs only wheels and sdists from its indexes",
                            line, package=package.name)
        if not dist.url:
            raise doc.error(f"package {package.name}: {dist.filename} is given by a local path, not a "
                            "URL of an index", line, package=package.name)
        sha256 = {k.lower(): v for k, v in dist.hashes.items()}.get("sha256")
        if not sha256:
            raise doc.error(f"package {package.name}: {dist.filename} has no sha256 hash (venvd "
                            "checks files by sha256)", line, package=package.name)
        version = str(package.version) if package.version is not None else _version_of(dist.filename)
        dependencies = sorted({canonicalize_name(str(d.get("name"))) for d in package.dependencies or []
                               if d.get("name")} & names)
        depended.update(dependencies)
        uploaded = dist.upload_time
        packages.append({
            "name": package.name,
            "version": version,
            "requires_python": str(package.requires_python) if package.requires_python else None,
            "dependencies": dependencies,
            "index": package.index,
            "files": [{
                "filename": dist.filename,
                "url": dist.url,
                "sha256": sha256.lower(),
                "size": dist.size,
                "upload_time": (uploaded.astimezone(UTC).isoformat().replace("+00:00", "Z")
                                if uploaded is not None else None),
            }],
        })
    if not packages:
        raise doc.error(f"selects no package for the target ({_describe(environment)})")
    # The lock's roots: what it names as requirements (a venvd lock), else what nothing depends on.
    roots = doc.requirements or sorted(str(p["name"]) for p in packages if p["name"] not in depended)
    return {"target": target.to_json(), "requirements": roots, "constraints": [],
            "packages": sorted(packages, key=lambda p: p["name"])}


def _version_of(filename: str) -> str:
    from packaging.utils import parse_sdist_filename, parse_wheel_filename

    if filename.endswith(".whl"):
        return str(parse_wheel_filename(filename)[1])
    return str(parse_sdist_filename(filename)[1])


def _describe(environment: dict[str, str]) -> str:
    return (f"Python {environment.get('python_full_version', '?')} on "
            f"{environment.get('sys_platform', '?')} {environment.get('platform_machine', '')}").strip()


def _line_of_context(text: str, message: str) -> int | None:
    """A validation error's `packages[i]` context, as the line of that package's name."""
    import re

    found = re.search(r"packages\[(\d+)\]", message)
    if not found:
        return None
    wanted = int(found.group(1))
    seen = -1
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() == "[[packages]]":
            seen += 1
            if seen == wanted:
                return number
    return None
