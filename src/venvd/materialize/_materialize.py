"""`materialize`: a venvd archive → a ready virtual environment at DEST (local work only, no HTTP).

Steps: read the manifest (the archive's first member) and check the interpreter against its target;
refuse a non-empty DEST unless `force` (then clear it, only now that the archive looks right);
create the skeleton as ``python -m venv --without-pip DEST`` would (in this process when `python` is
the interpreter running venvd: see `_VenvProcess`); stream-extract the rest safely (the manifest's
directories made up front, files written by a thread pool while the stream is read); point scripts
at DEST's python; write the lock to ``DEST/venvd.lock.json``, a name no member may take; verify
(dependencies consistent, the requested projects' top-level modules import, in one child process
started before the dependency check, unless the client cache remembers that check: `_checks`).

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
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zstandard

from venvd.errors import BuildError, InputError
from venvd.materialize._cache import FileCache
from venvd.materialize._checks import PassedChecks
from venvd.materialize._extract import (
    MANIFEST_NAME,
    ArchiveLimits,
    Budget,
    UnsafeArchive,
    archive_budget,
    default_workers,
    extract_rest,
    manifest_files,
    open_archive,
    read_manifest,
)
from venvd.materialize._fragments import has_fragments, plan
from venvd.materialize._interpreter import check_interpreter
from venvd.materialize._place import Placed, place_fragments
from venvd.materialize._scripts import rewrite_scripts
from venvd.materialize._source import ArtifactSource, FileSource, frame_members
from venvd.materialize._tar import TarReader
from venvd.materialize._verify import environment_problems, manifest_problems
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
    """What `materialize` made: the venv, its interpreter, and counts of what went in."""

    dest: Path
    python: Path  # the venv's interpreter
    environment: str | None  # the environment key from the manifest
    packages: int
    files: int
    scripts: int
    manifest: dict[str, Any]


def materialize(archive: Path | ArtifactSource, dest: Path, *, python: str = sys.executable,
                force: bool = False, verify: bool = True,
                progress: Callable[[MaterializeEvent], None] | None = None,
                limits: ArchiveLimits = ArchiveLimits(),  # noqa: B008
                cache: FileCache | None = None, link_mode: str = "auto",
                workers: int | None = None) -> MaterializeResult:
    """Create the venv of `archive` (a local file, or a source such as the server's artifact) at
    `dest` for interpreter `python`.

    An archive whose manifest says where its fragments are is placed fragment by fragment
    (`_place`): with a `cache`, what it holds intact is linked by `link_mode` (see `_link`) and
    only the rest is read from `archive`; without, fragments are unpacked into DEST. Other
    archives are extracted as one stream.

    Raises InputError (DEST not empty without `force`, interpreter not runnable),
    IncompatibleInterpreter (before anything is written), BuildError(step="extract") for a
    malformed or hostile archive, BuildError(step="verify") when the checks fail, and what the
    source raises (UpstreamError ...). An archive whose manifest declares more members or
    expanded bytes than `limits` allow, or whose zstd window passes `limits.max_window`, is
    refused before anything is written; one holding more than its manifest declares is refused
    before the first member past it is written.
    """
    def report(step: str, done: int, total: int) -> None:
        if progress is not None:
            progress(MaterializeEvent(step, done, total))

    dest = Path(os.path.abspath(dest))
    existed_as_dir = _check_dest(dest, force)
    source: ArtifactSource = FileSource(archive) if isinstance(archive, Path) else archive
    with contextlib.ExitStack() as stack:
        if isinstance(archive, Path):
            stack.callback(source.close)
        manifest, budget, frame_length = _open(source, limits)
        check_interpreter(manifest["target"], python, layout=manifest["layout"])
        if existed_as_dir:
            _clear(dest)
        elif os.path.lexists(dest):
            dest.unlink()  # a file or a link where DEST should be, and `force` was given
        layout = manifest["layout"]
        venv: _VenvProcess | None = None
        try:
            report("venv", 0, 1)
            # Read before the skeleton's thread starts: reading the umask sets it for a moment.
            umask = _umask()
            venv = _VenvProcess(python, dest, layout)
            stack.callback(venv.kill)
            if has_fragments(manifest):
                placed = _place_all(source, manifest, budget, frame_length, dest, venv, cache,
                                    link_mode, limits, workers, umask, report)
                files = placed.files
            else:
                venv.wait()
                report("venv", 1, 1)
                files = _extract_stream(source, dest, manifest, budget, limits, report)
            venv_python = venv.wait()
            try:
                scripts = manifest.get("scripts", [])
                changed = rewrite_scripts(dest, scripts, layout["placeholder"],
                                          windows=layout["kind"] == "windows",
                                          scripts_dir=layout["scripts"])
                lock = manifest.get("lock") or {}
                (dest / LOCK_FILENAME).write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
            except (UnsafeArchive, OSError, KeyError, TypeError) as exc:
                raise BuildError(f"cannot extract {source.name}: {_reason(exc, limits)}",
                                 step="extract") from None
            report("scripts", changed, len(scripts))
            if verify:
                report("verify", 0, 1)
                _verify(dest, venv_python, manifest,
                        None if cache is None else PassedChecks(cache.root))
                report("verify", 1, 1)
        except BaseException:
            if venv is not None:
                venv.kill()
            _clear(dest)
            if not existed_as_dir and dest.is_dir():
                dest.rmdir()
            raise
    if cache is not None and has_fragments(manifest):
        cache.touch(list(placed.used))
        if placed.fetched:
            cache.prune()
    return MaterializeResult(dest=dest, python=venv_python, environment=manifest.get("environment"),
                             packages=len(manifest.get("packages", [])), files=files,
                             scripts=changed, manifest=manifest)


_EXTRACT_ERRORS = (UnsafeArchive, tarfile.TarError, OSError, KeyError, TypeError,
                   zstandard.ZstdError)


def _place_all(source: ArtifactSource, manifest: dict[str, Any], budget: Budget,
               frame_length: int, dest: Path, venv: _VenvProcess, cache: FileCache | None,
               link_mode: str, limits: ArchiveLimits, workers: int | None, umask: int,
               report: Callable[[str, int, int], None]) -> Placed:
    def venv_ready() -> frozenset[str]:
        venv.wait()
        report("venv", 1, 1)
        # The lock is ours to write: no member may be it (or a directory in its place).
        return _skeleton(dest) | {LOCK_FILENAME, MANIFEST_NAME}

    try:
        size = source.size()
        fragments = plan(manifest, protected=frozenset({LOCK_FILENAME, MANIFEST_NAME}),
                         body_size=None if size is None else size - frame_length,
                         max_expanded=budget.expanded_size)
        if len(fragments.owner) > budget.members:
            raise UnsafeArchive(f"the archive holds more than {budget.members} members "
                                f"({budget.why_members})")
        return place_fragments(source, frame_length, fragments, dest, venv_ready=venv_ready,
                               cache=cache, link_mode=link_mode, max_window=limits.max_window,
                               umask=umask, workers=workers or default_workers(),
                               report=report)
    except _EXTRACT_ERRORS as exc:
        raise BuildError(f"cannot extract {source.name}: {_reason(exc, limits)}",
                         step="extract") from None


def _extract_stream(source: ArtifactSource, dest: Path, manifest: dict[str, Any], budget: Budget,
                    limits: ArchiveLimits, report: Callable[[str, int, int], None]) -> int:
    """The whole archive as one stream (archives whose manifest does not place fragments)."""
    protected = _skeleton(dest) | {LOCK_FILENAME}
    try:
        with source.local_copy() as path, open_archive(path, limits.max_window) as tf:
            read_manifest(tf)
            listed = manifest_files(manifest)
            files = extract_rest(tf, dest, protected=protected, expected_files=listed,
                                 on_member=lambda n: report("extract", n, len(listed)),
                                 budget=budget)
        return len(files)
    except _EXTRACT_ERRORS as exc:
        raise BuildError(f"cannot extract {source.name}: {_reason(exc, limits)}",
                         step="extract") from None


def _open(source: ArtifactSource, limits: ArchiveLimits) -> tuple[dict[str, Any], Budget, int]:
    """The archive's checked manifest, what it may extract and the manifest frame's length;
    BuildError("extract") if it is not a usable venvd archive or passes `limits`."""
    try:
        frame, length = source.first_frame(limits.max_window)
        manifest = read_manifest(TarReader(frame_members(frame)))
        for key in ("target", "layout"):
            if not isinstance(manifest.get(key), dict):
                raise UnsafeArchive(f"the manifest lacks {key!r}")
        for key in ("placeholder", "kind", "scripts", "site_packages"):
            if not isinstance(manifest["layout"].get(key), str):
                raise UnsafeArchive(f"the manifest's layout lacks {key!r}")
        return manifest, archive_budget(manifest, limits), length
    except (UnsafeArchive, tarfile.TarError, OSError, zstandard.ZstdError) as exc:
        raise BuildError(f"not a usable venvd archive: {_reason(exc, limits)}",
                         step="extract") from None


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it: before any other thread of ours makes files
    os.umask(mask)
    return mask


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


class _VenvProcess:
    """The venv skeleton (``python -m venv --without-pip DEST``), started now and waited for when
    needed, so that fetching and unpacking overlap it.

    For the interpreter running venvd itself (the default), the standard library's
    `venv.EnvBuilder` makes it in a thread of this process, with the options ``python -m venv
    --without-pip`` uses: the same files, without starting a second interpreter (about 40 ms of CPU,
    the largest part of a subprocess whose own work is a few directories, links and templates).
    Any other interpreter makes its own skeleton in a subprocess: its venv module knows its layout.
    """

    def __init__(self, python: str, dest: Path, layout: dict[str, Any]) -> None:
        self.dest = dest
        self.python = python
        name = "python.exe" if layout["kind"] == "windows" else "python"
        self.venv_python = dest / str(layout["scripts"]) / name
        self.result: Path | None = None
        self.proc: subprocess.Popen[str] | None = None
        self.thread: threading.Thread | None = None
        self.failure: BaseException | None = None
        if _is_running_interpreter(python):
            self.thread = threading.Thread(target=self._in_process, name="venvd-venv", daemon=True)
            self.thread.start()
            return
        try:
            self.proc = subprocess.Popen(
                [python, "-m", "venv", "--without-pip", str(dest)], stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True)
        except OSError as exc:
            raise InputError(f"cannot run {python} -m venv: {exc}", python=python) from None

    def _in_process(self) -> None:
        import venv

        try:
            venv.EnvBuilder(symlinks=os.name != "nt", with_pip=False).create(str(self.dest))
        except BaseException as exc:  # reported by wait(), in the caller's thread
            self.failure = exc

    def wait(self) -> Path:
        """The venv's interpreter once the skeleton is made; BuildError(step="venv") if not."""
        if self.result is not None:
            return self.result
        if self.thread is not None:
            self.thread.join()
            if self.failure is not None:
                raise BuildError(f"cannot make the venv {self.dest}: {self.failure}",
                                 step="venv") from None
        else:
            self._wait_process()
        if not self.venv_python.exists():
            raise BuildError(f"{self.python} -m venv made no {self.venv_python}", step="venv")
        self.result = self.venv_python
        return self.result

    def _wait_process(self) -> None:
        proc = self.proc
        assert proc is not None
        try:
            _out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            self.kill()
            raise BuildError(f"{self.python} -m venv {self.dest} timed out", step="venv") from None
        self.proc = None  # reaped
        if proc.returncode != 0:
            raise BuildError(f"{self.python} -m venv {self.dest} failed", step="venv",
                             log_tail="\n".join(err.splitlines()[-40:]))

    def kill(self) -> None:
        """Stop a skeleton still being made (DEST is about to be removed): a subprocess is killed
        and reaped, a thread (milliseconds of work) waited for."""
        if self.thread is not None:
            self.thread.join()
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _is_running_interpreter(python: str) -> bool:
    """Whether `python` is the interpreter running this process (a venv's python and its base
    interpreter make the same venv: ``venv`` starts from the base either way)."""
    try:
        return os.path.samefile(python, sys.executable)
    except OSError:
        return False


def _skeleton(dest: Path) -> frozenset[str]:
    """Every file and link the venv module made: no archive member may replace one."""
    found = set()
    for root, dirs, files in os.walk(dest):
        rel_root = os.path.relpath(root, dest)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            rel = name if rel_root == "." else f"{rel_root}/{name}"
            found.add(rel.replace(os.sep, "/"))
    return frozenset(found)


def _verify(dest: Path, venv_python: Path, manifest: dict[str, Any],
            checks: PassedChecks | None) -> None:
    target = Target.from_json(manifest["target"])
    problems = manifest_problems(dest, venv_python, target, manifest, checks)
    if problems is None:  # an older builder: check from the installed metadata
        site_packages = dest / manifest["layout"]["site_packages"]
        roots = [str(r) for r in (manifest.get("lock") or {}).get("requirements") or []]
        problems = environment_problems(site_packages, venv_python, target, roots)
    if problems:
        raise BuildError("the new environment does not check out: " + "; ".join(problems[:5])
                         + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""),
                         step="verify", log_tail="\n".join(problems))
