"""Point the archive's scripts at the new venv's interpreter.

The builder writes scripts whose interpreter is a placeholder (the manifest's layout.placeholder,
``/__venvd_python__``; ``/__venvd_pythonw__`` for Windows gui launchers). POSIX scripts get a first
line naming ``<venv>/bin/python`` (the ``/bin/sh`` trampoline pip and installer use when the path
has spaces or is too long for a kernel shebang). Windows .exe launchers carry their ``#!`` line just
before an appended zip; it is replaced in place (the zip's offsets are relative to its own start,
which the launcher finds from the end, so a longer line is fine).
"""

from __future__ import annotations

import os
import posixpath
import shlex
import stat
from pathlib import Path

from venvd.materialize._paths import UnsafeArchive, unsafe_path_reason

__all__ = ["posix_shebang", "rewrite_scripts"]


def posix_shebang(python: str) -> bytes:
    """The interpreter line(s) for `python` (installer's and distlib's rule)."""
    raw = python.encode()
    if b" " not in raw and len(raw) + 3 <= 127:
        return b"#!" + raw + b"\n"
    return b"#!/bin/sh\n'''exec' " + shlex.quote(python).encode() + b' "$0" "$@"\n' + b"' '''\n"


def _windows_shebang(python: str) -> bytes:
    return b"#!" + (f'"{python}"' if " " in python else python).encode() + b"\n"


def rewrite_scripts(dest: Path, scripts: list[str], placeholder: str, *, windows: bool,
                    scripts_dir: str) -> int:
    """Rewrite each listed script under `dest`; how many were changed."""
    console = b"#!" + placeholder.encode() + b"\n"
    # installer names the gui interpreter by swapping python for pythonw in the file name part.
    head, tail = posixpath.split(placeholder)
    gui = b"#!" + posixpath.join(head, tail.replace("python", "pythonw")).encode() + b"\n"
    bindir = dest / scripts_dir
    changed = 0
    for rel in scripts:
        reason = unsafe_path_reason(rel)
        if reason:
            raise UnsafeArchive(f"script {rel!r} {reason}")
        path = dest / rel
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeArchive(f"script {rel!r} is not a regular file")
        data = path.read_bytes()
        if windows:
            new = _rewrite_windows(data, console, gui, bindir)
        elif data.startswith(console):
            new = posix_shebang(str(bindir / "python")) + data[len(console):]
        else:
            new = data
        if new != data:
            _replace(path, new, stat.S_IMODE(st.st_mode))
            changed += 1
    return changed


def _replace(path: Path, data: bytes, mode: int) -> None:
    """Write `data` as a new file at `path`: the old one may be a link into the client's cache,
    which must keep the placeholder."""
    tmp = path.with_name(f".{path.name}.venvd-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _rewrite_windows(data: bytes, console: bytes, gui: bytes, bindir: Path) -> bytes:
    python = _windows_shebang(str(bindir / "python.exe"))
    pythonw = _windows_shebang(str(bindir / "pythonw.exe"))
    if data.startswith(console):  # a plain "#!python" script from the wheel's .data/scripts
        return python + data[len(console):]
    for needle, line in ((gui, pythonw), (console, python)):
        at = data.rfind(needle)
        if at != -1:
            return data[:at] + line + data[at + len(needle):]
    return data
