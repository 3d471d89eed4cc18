"""Install one wheel with pypa/installer into a staging directory laid out as the target's venv.

Contract of `install_wheel(wheel, staging, layout, project)`:

- Files land under `staging` exactly where they go in the venv (see `_layout.Layout`); RECORD is
  rewritten by installer with paths relative to site-packages ("/" separators whatever the host),
  INSTALLER says ``venvd``, no bytecode is compiled (the target's Python may not be ours).
- Console and gui scripts are generated for the layout's launcher kind with the interpreter
  `PLACEHOLDER_INTERPRETER`; they, and wheel scripts whose ``#!python`` line installer rewrote, are
  returned in `Installed.scripts` for the client to point at the venv's python.
- Hostile or broken wheels raise BuildError(step="install") and write nothing outside `staging`:
  member names or RECORD rows that are absolute, contain ``..``, backslashes or drive letters, or
  escape their scheme; symlink members; entry-point names that are paths; RECORD rows whose hash or
  size does not match the member; duplicate files; files that would replace the venv's own
  interpreter, activation scripts or pyvenv.cfg.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
import stat
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.records import RecordEntry, parse_record_file
from installer.sources import WheelContentElement, WheelFile
from installer.utils import Scheme, construct_record_file

from venvd.builder._layout import Layout
from venvd.builder._model import PLACEHOLDER_INTERPRETER, PLACEHOLDER_SHEBANG
from venvd.errors import BuildError

if TYPE_CHECKING:
    from installer.scripts import ScriptSection

__all__ = ["Installed", "install_wheel", "unsafe_path_reason"]

_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclasses.dataclass(frozen=True)
class Installed:
    files: tuple[str, ...]  # venv-relative, "/"-separated, sorted
    scripts: tuple[str, ...]  # those whose interpreter line the client rewrites


class _UnsafeWheel(Exception):
    """A wheel that would write outside its place; becomes BuildError(step="install")."""


def unsafe_path_reason(path: str) -> str | None:
    """Why a relative "/"-separated path from an untrusted wheel is unsafe, or None if fine."""
    if not path:
        return "is empty"
    if "\0" in path:
        return "contains a NUL byte"
    if "\\" in path:
        return "contains a backslash (a path separator on Windows)"
    if path.startswith("/") or _DRIVE.match(path):
        return "is absolute"
    if any(part in ("..", ".") for part in path.split("/")):
        return "contains '..' or '.'"
    return None


def install_wheel(wheel: Path, staging: Path, layout: Layout, project: str) -> Installed:
    """Install `wheel` into `staging`; what was written (see the module docstring)."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            _check_members(zf)
            source = _WheelSource(zf)
            _check_record(source)
            try:
                source.validate_record(validate_contents=True)
            except ValueError as exc:
                # installer names the wheel by its cache path: keep server paths out of errors.
                issues = [str(i).replace(f"In {zf.filename}, ", "")
                          for i in getattr(exc, "issues", None) or [exc]]
                raise _UnsafeWheel(
                    "RECORD does not match the wheel: " + "; ".join(issues[:3])) from None
            dest = _Destination(staging, layout, project)
            install(source, dest, {"INSTALLER": b"venvd\n"})
    except _UnsafeWheel as exc:
        raise BuildError(f"refusing to install {wheel.name}: {exc}", package=project,
                         step="install") from None
    except (ValueError, KeyError, AssertionError, OSError, UnicodeDecodeError,
            zipfile.BadZipFile) as exc:
        # installer reports broken wheels with bare ValueError/AssertionError/KeyError.
        raise BuildError(f"cannot install {wheel.name}: {type(exc).__name__}: {exc}",
                         package=project, step="install") from None
    return Installed(files=tuple(sorted(dest.written)), scripts=tuple(sorted(dest.scripts)))


def _check_members(zf: zipfile.ZipFile) -> None:
    for info in zf.infolist():
        reason = unsafe_path_reason(info.filename.rstrip("/") if info.is_dir() else info.filename)
        if reason:
            raise _UnsafeWheel(f"member {info.filename!r} {reason}")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise _UnsafeWheel(f"member {info.filename!r} is a symbolic link")


def _check_record(source: WheelFile) -> None:
    try:
        rows = list(parse_record_file(source.read_dist_info("RECORD").splitlines()))
    except KeyError:
        raise _UnsafeWheel("it has no RECORD") from None
    except Exception as exc:
        raise _UnsafeWheel(f"its RECORD does not parse: {exc}") from None
    for path, _hash, _size in rows:
        reason = unsafe_path_reason(path)
        if reason:
            raise _UnsafeWheel(f"RECORD row {path!r} {reason}")


class _WheelSource(WheelFile):
    """installer's WheelFile, skipping __pycache__ members quietly (installer would warn)."""

    def get_contents(self) -> Iterator[WheelContentElement]:
        for element in super().get_contents():
            if "__pycache__" not in element[0][0].split("/")[:-1]:
                yield element


class _Destination(SchemeDictionaryDestination):
    """Writes into `staging` by the layout's scheme, refusing anything that escapes it."""

    def __init__(self, staging: Path, layout: Layout, project: str) -> None:
        root = os.path.abspath(staging)
        schemes = {name: os.path.join(root, rel) if rel else root
                   for name, rel in layout.scheme_dict(project).items()}
        super().__init__(scheme_dict=schemes, interpreter=PLACEHOLDER_INTERPRETER,
                         script_kind=layout.launcher)
        self.root = Path(root)
        self.layout = layout
        self.project = project
        self.reserved = layout.reserved_paths()
        self.written: list[str] = []
        self.scripts: list[str] = []

    def write_to_fs(self, scheme: Scheme, path: str, stream: BinaryIO,
                    is_executable: bool) -> RecordEntry:
        reason = unsafe_path_reason(path)
        if reason:
            raise _UnsafeWheel(f"{scheme} file {path!r} {reason}")
        relative = self._relative(scheme, path)
        if relative in self.reserved:
            raise _UnsafeWheel(f"{scheme} file {path!r} would replace the venv's own {relative}")
        entry = super().write_to_fs(scheme, path, stream, is_executable)
        self.written.append(relative)
        return entry

    def write_file(self, scheme: Scheme, path: str | os.PathLike[str], stream: BinaryIO,
                   is_executable: bool) -> RecordEntry:
        # Wheel builders often drop the executable bit of .data/scripts; they are meant to run.
        is_executable = is_executable or scheme == "scripts"
        entry = super().write_file(scheme, path, stream, is_executable)
        if scheme == "scripts":
            target = self._path_with_destdir(scheme, os.fspath(path))
            with target.open("rb") as f:
                if f.read(len(PLACEHOLDER_SHEBANG)) == PLACEHOLDER_SHEBANG:
                    self.scripts.append(self._relative(scheme, os.fspath(path)))
        return entry

    def write_script(self, name: str, module: str, attr: str,
                     section: ScriptSection) -> RecordEntry:
        if (not name or name in (".", "..") or any(c in name for c in "/\\:\0")
                or name != name.strip()):
            raise _UnsafeWheel(f"entry point name {name!r} is not a plain file name")
        entry = super().write_script(name, module, attr, section)
        self.scripts.append(self._relative(Scheme("scripts"), entry.path))
        return entry

    def finalize_installation(self, scheme: Scheme, record_file_path: str,
                              records: Iterable[tuple[Scheme, RecordEntry]]) -> None:
        # installer writes absolute paths on a Windows host; a venv for any target wants paths
        # relative to the RECORD's scheme with "/" separators, whatever the host.
        schemes = self.layout.scheme_dict(self.project)
        base = schemes[scheme] or "."

        def prefix(file_scheme: Scheme) -> str | None:
            if file_scheme == scheme:
                return None
            return posixpath.relpath(schemes[file_scheme] or ".", base) + "/"

        with construct_record_file(list(records), prefix) as record_stream:
            self.write_to_fs(scheme, record_file_path, record_stream, is_executable=False)

    def _relative(self, scheme: Scheme, path: str) -> str:
        target = Path(os.path.abspath(os.path.join(self.scheme_dict[scheme], path)))
        return target.relative_to(self.root).as_posix()
