"""Install one wheel with pypa/installer straight into a fragment, laid out as the target's venv.

Contract of `install_wheel(wheel, writer, layout, project)`:

- installer runs with a destination that writes each file as a tar member (`FragmentWriter`) at its
  venv-relative path (see `_layout.Layout`): no staging directory, one pass over the wheel. RECORD is
  rewritten by installer with paths relative to site-packages ("/" separators whatever the host),
  INSTALLER says ``venvd``, no bytecode is compiled (the target's Python may not be ours).
- Console and gui scripts are generated for the layout's launcher kind with the interpreter
  `PLACEHOLDER_INTERPRETER`; they, and wheel scripts whose ``#!python`` line installer rewrote, are
  returned in `Installed.scripts` for the client to point at the venv's python. Files in the
  scripts scheme are made executable.
- Hostile or broken wheels raise BuildError(step="install") (the caller discards the partial
  fragment): member names or RECORD rows that are absolute, contain ``..``, backslashes or drive
  letters; symlink members; entry-point names that are paths; members missing from RECORD or not
  matching its hash or size; duplicate files; files that would replace the venv's own interpreter,
  activation scripts or pyvenv.cfg.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import posixpath
import stat
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from installer import install
from installer.destinations import WheelDestination
from installer.records import Hash, RecordEntry, parse_record_file
from installer.scripts import Script
from installer.sources import WheelContentElement, WheelFile
from installer.utils import Scheme, construct_record_file, fix_shebang

from venvd._paths import unsafe_path_reason
from venvd.builder._layout import Layout
from venvd.builder._model import PLACEHOLDER_INTERPRETER, PLACEHOLDER_SHEBANG
from venvd.builder._pack import FragmentWriter
from venvd.errors import BuildError

if TYPE_CHECKING:
    import os

    from installer.scripts import ScriptSection

__all__ = ["Installed", "install_wheel", "unsafe_path_reason"]

_SIGNATURES = ("RECORD.jws", "RECORD.p7s")  # listed nowhere by design (PEP 376/427)


@dataclasses.dataclass(frozen=True)
class Installed:
    files: tuple[str, ...]  # venv-relative, "/"-separated, in archive order
    scripts: tuple[str, ...]  # those whose interpreter line the client rewrites, sorted


class _UnsafeWheel(Exception):
    """A wheel that would write outside its place; becomes BuildError(step="install")."""


def install_wheel(wheel: Path, writer: FragmentWriter, layout: Layout, project: str) -> Installed:
    """Install `wheel` as tar members into `writer`; what was written (see the module docstring)."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            _check_members(zf)
            source = _WheelSource(zf)
            _check_record_paths(source)
            dest = _Destination(writer, layout, project)
            install(source, dest, {"INSTALLER": b"venvd\n"})
    except _UnsafeWheel as exc:
        raise BuildError(f"refusing to install {wheel.name}: {exc}", package=project,
                         step="install") from None
    except (ValueError, KeyError, AssertionError, OSError, UnicodeDecodeError,
            zipfile.BadZipFile) as exc:
        # installer reports broken wheels with bare ValueError/AssertionError/KeyError.
        raise BuildError(f"cannot install {wheel.name}: {type(exc).__name__}: {exc}",
                         package=project, step="install") from None
    return Installed(files=tuple(dest.written), scripts=tuple(sorted(dest.scripts)))


def _check_members(zf: zipfile.ZipFile) -> None:
    for info in zf.infolist():
        reason = unsafe_path_reason(info.filename.rstrip("/") if info.is_dir() else info.filename)
        if reason:
            raise _UnsafeWheel(f"member {info.filename!r} {reason}")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise _UnsafeWheel(f"member {info.filename!r} is a symbolic link")


def _check_record_paths(source: WheelFile) -> None:
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
    """installer's WheelFile, checking each member against RECORD as it is read (one pass instead
    of installer's separate `validate_record`), and skipping __pycache__ members quietly."""

    def get_contents(self) -> Iterator[WheelContentElement]:
        record_path = f"{self.dist_info_dir}/RECORD"
        for (path, digest, size), stream, executable in super().get_contents():
            if "__pycache__" in path.split("/")[:-1]:
                continue
            if path == record_path or (posixpath.dirname(path) == self.dist_info_dir
                                       and posixpath.basename(path) in _SIGNATURES):
                yield (path, digest, size), stream, executable
                continue
            if not digest or not size:
                raise _UnsafeWheel(f"member {path!r} is not listed in RECORD with a hash")
            data = stream.read()
            try:
                matches = RecordEntry.from_elements(path, digest, size).validate(data)
            except Exception as exc:  # installer's InvalidRecordEntry is no ValueError
                raise _UnsafeWheel(f"RECORD row of {path!r} is invalid: {exc}") from None
            if not matches:
                raise _UnsafeWheel(f"member {path!r} does not match its RECORD hash or size")
            yield (path, digest, size), io.BytesIO(data), executable


class _Destination(WheelDestination):
    """Writes each installed file as a tar member at its venv path, refusing escapes."""

    def __init__(self, writer: FragmentWriter, layout: Layout, project: str) -> None:
        self.writer = writer
        self.layout = layout
        self.schemes = layout.scheme_dict(project)
        self.reserved = layout.reserved_paths()
        self.written: list[str] = []
        self.scripts: list[str] = []
        self._seen: set[str] = set()

    def _add(self, scheme: Scheme, path: str, data: bytes, executable: bool) -> RecordEntry:
        reason = unsafe_path_reason(path)
        if reason:
            raise _UnsafeWheel(f"{scheme} file {path!r} {reason}")
        base = self.schemes[scheme]
        relative = f"{base}/{path}" if base else path
        if relative in self.reserved:
            raise _UnsafeWheel(f"{scheme} file {path!r} would replace the venv's own {relative}")
        if relative in self._seen:
            raise _UnsafeWheel(f"{relative} is written twice")
        self._seen.add(relative)
        self.writer.add(relative, data, executable)
        self.written.append(relative)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
        return RecordEntry(path, Hash("sha256", digest), len(data))

    def write_file(self, scheme: Scheme, path: str | os.PathLike[str], stream: BinaryIO,
                   is_executable: bool) -> RecordEntry:
        path = str(path)
        if scheme != "scripts":
            return self._add(scheme, path, stream.read(), is_executable)
        with fix_shebang(stream, PLACEHOLDER_INTERPRETER) as fixed:
            data = fixed.read()
        # Wheel builders often drop the executable bit of .data/scripts; they are meant to run.
        entry = self._add(scheme, path, data, True)
        if data.startswith(PLACEHOLDER_SHEBANG):
            self.scripts.append(self.written[-1])
        return entry

    def write_script(self, name: str, module: str, attr: str,
                     section: ScriptSection) -> RecordEntry:
        if (not name or name in (".", "..") or any(c in name for c in "/\\:\0")
                or name != name.strip()):
            raise _UnsafeWheel(f"entry point name {name!r} is not a plain file name")
        script_name, data = Script(name, module, attr, section).generate(
            PLACEHOLDER_INTERPRETER, self.layout.launcher)
        entry = self._add(Scheme("scripts"), script_name, data, True)
        self.scripts.append(self.written[-1])
        return entry

    def finalize_installation(self, scheme: Scheme, record_file_path: str,
                              records: Iterable[tuple[Scheme, RecordEntry]]) -> None:
        # Paths relative to the RECORD's own scheme, "/"-separated whatever the host or target.
        base = self.schemes[scheme] or "."

        def prefix(file_scheme: Scheme) -> str | None:
            if file_scheme == scheme:
                return None
            return posixpath.relpath(self.schemes[file_scheme] or ".", base) + "/"

        with construct_record_file(list(records), prefix) as record_stream:
            self._add(scheme, record_file_path, record_stream.read(), False)
