"""`materialize`: a venvd archive → a ready virtual environment at DEST (local work only, no HTTP).

Steps: read the manifest (the archive's first member) and check the interpreter against its target;
refuse a non-empty DEST unless `force` (then clear it, only now that the archive looks right);
create the skeleton with ``python -m venv --without-pip DEST`` (tens of milliseconds: not worth
replacing); stream-extract the rest safely (the manifest's directories made up front, files written
by a thread pool while the stream is read); point scripts at DEST's python; write the lock to
``DEST/venvd.lock.json``, a name no member may take; verify (dependencies consistent, the requested
projects' top-level modules import, in one child process started before the dependency check).

Failure leaves nothing half-made: DEST is removed again (or emptied, if it was an existing
directory).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zstandard

from venvd.errors import BuildError, InputError
from venvd.materialize._extract import (
    ArchiveLimits,
    Budget,
    UnsafeArchive,
    archive_budget,
    extract_rest,
    manifest_files,
    open_archive,
    read_manifest,
)
from venvd.materialize._interpreter import check_interpreter
from venvd.materialize._scripts import rewrite_scripts
from venvd.materialize._tar import TarReader
from venvd.materialize._verify import environment_problems
from venvd.target import Target

__all__ = ["LOCK_FILENAME", "MaterializeEvent", "MaterializeResult", "materialize"]

LOCK_FILENAME = "venvd.lock.json"


@dataclasses.dataclass(frozen=True)
class MaterializeEvent:
    """Progress: `step` is venv, extract, scripts or verify; done of total (0 when unknown)."""

    step: str
    done: int
    total: int


@dataclasses.dataclass(frozen=True)
class MaterializeResult:
    dest: Path
    python: Path  # the venv's interpreter
    environment: str | None  # the environment key from the manifest
    packages: int
    files: int
    scripts: int
    manifest: dict[str, Any]


def materialize(archive: Path, dest: Path, *, python: str = sys.executable, force: bool = False,
                verify: bool = True,
                progress: Callable[[MaterializeEvent], None] | None = None,
                limits: ArchiveLimits = ArchiveLimits()) -> MaterializeResult:  # noqa: B008
    """Create the venv of `archive` at `dest` for interpreter `python`.

    Raises InputError (DEST not empty without `force`, interpreter not runnable),
    IncompatibleInterpreter (before anything is written), BuildError(step="extract") for a
    malformed or hostile archive, BuildError(step="verify") when the checks fail. An archive
    whose manifest declares more members or expanded bytes than `limits` allow, or whose zstd
    window passes `limits.max_window`, is refused before anything is written; one holding more
    than its manifest declares is refused before the first member past it is written.
    """
    def report(step: str, done: int, total: int) -> None:
        if progress is not None:
            progress(MaterializeEvent(step, done, total))

    dest = Path(os.path.abspath(dest))
    existed_as_dir = _check_dest(dest, force)
    with contextlib.ExitStack() as stack:
        tf, manifest, budget = _open(Path(archive), stack, limits)
        check_interpreter(manifest["target"], python, layout=manifest["layout"])
        if existed_as_dir:
            _clear(dest)
        elif os.path.lexists(dest):
            dest.unlink()  # a file or a link where DEST should be, and `force` was given
        try:
            layout = manifest["layout"]
            report("venv", 0, 1)
            venv_python = _create_venv(python, dest, layout)
            report("venv", 1, 1)
            # The lock is ours to write: no member may be it (or a directory in its place).
            protected = _skeleton(dest) | {LOCK_FILENAME}
            try:
                listed = manifest_files(manifest)
                files = extract_rest(tf, dest, protected=protected, expected_files=listed,
                                     on_member=lambda n: report("extract", n, len(listed)),
                                     budget=budget)
                scripts = manifest.get("scripts", [])
                changed = rewrite_scripts(dest, scripts, layout["placeholder"],
                                          windows=layout["kind"] == "windows",
                                          scripts_dir=layout["scripts"])
                lock = manifest.get("lock") or {}
                (dest / LOCK_FILENAME).write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
            except (UnsafeArchive, tarfile.TarError, OSError, KeyError, TypeError,
                    zstandard.ZstdError) as exc:
                raise BuildError(f"cannot extract {Path(archive).name}: {_reason(exc, limits)}",
                                 step="extract") from None
            report("scripts", changed, len(scripts))
            if verify:
                report("verify", 0, 1)
                _verify(dest, venv_python, manifest)
                report("verify", 1, 1)
        except BaseException:
            _clear(dest)
            if not existed_as_dir and dest.is_dir():
                dest.rmdir()
            raise
    return MaterializeResult(dest=dest, python=venv_python, environment=manifest.get("environment"),
                             packages=len(manifest.get("packages", [])), files=len(files),
                             scripts=changed, manifest=manifest)


def _open(archive: Path, stack: contextlib.ExitStack,
          limits: ArchiveLimits) -> tuple[TarReader, dict[str, Any], Budget]:
    """The archive opened as a stream, its checked manifest and what it may extract;
    BuildError("extract") if it is not a usable venvd archive or passes `limits`."""
    try:
        tf = stack.enter_context(open_archive(archive, limits.max_window))
        manifest = read_manifest(tf)
        for key in ("target", "layout"):
            if not isinstance(manifest.get(key), dict):
                raise UnsafeArchive(f"the manifest lacks {key!r}")
        for key in ("placeholder", "kind", "scripts", "site_packages"):
            if not isinstance(manifest["layout"].get(key), str):
                raise UnsafeArchive(f"the manifest's layout lacks {key!r}")
        return tf, manifest, archive_budget(manifest, limits)
    except (UnsafeArchive, tarfile.TarError, OSError, zstandard.ZstdError) as exc:
        raise BuildError(f"not a usable venvd archive: {_reason(exc, limits)}",
                         step="extract") from None


def _reason(exc: BaseException, limits: ArchiveLimits) -> str:
    if isinstance(exc, zstandard.ZstdError) and "memory" in str(exc).lower():
        return (f"a zstd frame needs a window above the client's bound max_window="
                f"{limits.max_window} bytes ({exc})")
    return str(exc)


def _check_dest(dest: Path, force: bool) -> bool:
    """Whether DEST is an existing directory; InputError if it must not be touched."""
    if dest.is_dir() and not dest.is_symlink():
        if any(dest.iterdir()) and not force:
            raise InputError(f"{dest} exists and is not empty (use --force to replace it)",
                             dest=str(dest))
        return True
    if os.path.lexists(dest) and not force:
        raise InputError(f"{dest} exists and is not a directory (use --force to replace it)",
                         dest=str(dest))
    return False


def _clear(directory: Path) -> None:
    """Remove everything inside `directory`, never following symlinks out of it."""
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _create_venv(python: str, dest: Path, layout: dict[str, Any]) -> Path:
    try:
        out = subprocess.run([python, "-m", "venv", "--without-pip", str(dest)],
                             capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"cannot run {python} -m venv: {exc}", python=python) from None
    if out.returncode != 0:
        raise BuildError(f"{python} -m venv {dest} failed", step="venv",
                         log_tail="\n".join(out.stderr.splitlines()[-40:]))
    name = "python.exe" if layout["kind"] == "windows" else "python"
    venv_python = dest / str(layout["scripts"]) / name
    if not venv_python.exists():
        raise BuildError(f"{python} -m venv made no {venv_python}", step="venv")
    return venv_python


def _skeleton(dest: Path) -> frozenset[str]:
    """Every file and link the venv module made: no archive member may replace one."""
    found = set()
    for root, dirs, files in os.walk(dest):
        rel_root = os.path.relpath(root, dest)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            rel = name if rel_root == "." else f"{rel_root}/{name}"
            found.add(rel.replace(os.sep, "/"))
    return frozenset(found)


def _verify(dest: Path, venv_python: Path, manifest: dict[str, Any]) -> None:
    site_packages = dest / manifest["layout"]["site_packages"]
    target = Target.from_json(manifest["target"])
    roots = [str(r) for r in (manifest.get("lock") or {}).get("requirements") or []]
    problems = environment_problems(site_packages, venv_python, target, roots)
    if problems:
        raise BuildError("the new environment does not check out: " + "; ".join(problems[:5])
                         + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""),
                         step="verify", log_tail="\n".join(problems))
