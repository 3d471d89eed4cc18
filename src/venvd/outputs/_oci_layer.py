"""The environment's image layer: a materialized venv, moved to its path in the image, as a
deterministic tar (optionally gzip).

Deterministic means a function of the venv's files and the options alone: members sorted by
path, every mtime 315532800 (1980-01-01, as the archives), uid/gid 0 without owner names, modes
0o755 (directories, executables, links) or 0o644, PAX headers; gzip with mtime 0 and no file
name. So exporting the same environment twice gives the same layer digest.

The venv was laid out at a temporary directory by `venvd.materialize` (as `venvd create` does);
what names that directory is rewritten to the image path: the scripts' interpreter lines (by the
same rule as the installer: a plain ``#!`` line, or the ``/bin/sh`` trampoline when the path is
long or has spaces), and the venv's own files (``activate`` and friends). The skeleton that points
at an interpreter is written for the image instead: ``pyvenv.cfg`` and ``bin/python*`` linking to
the base image's interpreter.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import posixpath
import shlex
import stat
import tarfile
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["EPOCH", "LayerResult", "VenvImage", "posix_shebang", "write_layer"]

EPOCH = 315532800
_CHUNK = 1024 * 1024


def posix_shebang(python: str) -> bytes:
    """The interpreter line(s) for `python` (installer's and distlib's rule)."""
    raw = python.encode()
    if b" " not in raw and len(raw) + 3 <= 127:
        return b"#!" + raw + b"\n"
    return b"#!/bin/sh\n'''exec' " + shlex.quote(python).encode() + b' "$0" "$@"\n' + b"' '''\n"


@dataclasses.dataclass(frozen=True)
class VenvImage:
    """What the layer is made of: the venv materialized at `source`, to live at `path` in the
    image, whose interpreter is `python_path` (Python `version`, "X.Y.Z"); `scripts` are the
    archive's scripts (paths relative to the venv)."""

    source: Path
    path: str
    python_path: str
    version: str
    scripts: frozenset[str]
    scripts_dir: str = "bin"

    @property
    def short_version(self) -> str:
        return ".".join(self.version.split(".")[:2])

    def skeleton(self) -> dict[str, bytes | str]:
        """The venv's own files for the image: pyvenv.cfg (bytes) and the interpreter links (str:
        link targets)."""
        home = posixpath.dirname(self.python_path)
        cfg = (f"home = {home}\ninclude-system-site-packages = false\nversion = {self.version}\n"
               f"executable = {self.python_path}\ncommand = {self.python_path} -m venv {self.path}\n")
        bindir = self.scripts_dir
        return {
            "pyvenv.cfg": cfg.encode(),
            f"{bindir}/python": self.python_path,
            f"{bindir}/python3": "python",
            f"{bindir}/python{self.short_version}": "python",
        }


@dataclasses.dataclass(frozen=True)
class LayerResult:
    digest: str  # of the blob (compressed, if it is)
    size: int
    diff_id: str  # of the uncompressed tar
    files: int


class _Hashing(io.RawIOBase):
    """A write-only stream that hashes and counts what passes to `out`."""

    def __init__(self, out: BinaryIO | Any) -> None:
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.sha.update(view)
        self.size += len(view)
        self.out.write(view)
        return len(view)


def write_layer(venv: VenvImage, dest: Path, *, compress: bool) -> LayerResult:
    """Write the layer of `venv` to `dest`; its digests and size."""
    with dest.open("wb") as raw:
        blob = _Hashing(raw)
        # Level 6 (zlib's and container tools' default): level 9, gzip's default here, took
        # three times as long for a 1% smaller layer (measured on a 9 MB environment).
        zipped = (gzip.GzipFile(filename="", mode="wb", fileobj=blob, mtime=0, compresslevel=6)
                  if compress else None)
        plain = _Hashing(zipped if zipped is not None else blob)
        with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            count = _add_tree(tf, venv)
        if zipped is not None:
            zipped.close()
    return LayerResult(digest="sha256:" + blob.sha.hexdigest(), size=blob.size,
                       diff_id="sha256:" + plain.sha.hexdigest(), files=count)


def _info(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = link
    info.mtime = EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add_tree(tf: tarfile.TarFile, venv: VenvImage) -> int:
    root = venv.path.strip("/")
    skeleton = venv.skeleton()
    entries = _walk(venv.source)
    for name in skeleton:
        entries.pop(name, None)
    # The image path's parents, then the venv, all in one sorted order of member names.
    members: dict[str, Any] = {}
    parts = root.split("/")
    for i in range(1, len(parts) + 1):
        members["/".join(parts[:i])] = ("dir", None)
    for rel, (kind, path) in entries.items():
        members[f"{root}/{rel}"] = (kind, path)
    for rel, value in skeleton.items():
        members[f"{root}/{rel}"] = ("link", value) if isinstance(value, str) else ("data", value)
    old_path = os.path.abspath(venv.source)
    old, new = os.fsencode(old_path), venv.path.encode()
    count = 0
    for name in sorted(members):
        kind, value = members[name]
        rel = name[len(root) + 1:]
        if kind == "dir":
            tf.addfile(_info(name, tarfile.DIRTYPE, 0o755))
        elif kind == "link":
            target = str(value)
            if target == old_path or target.startswith(old_path + "/"):  # into the temporary venv
                target = venv.path + target[len(old_path):]
            tf.addfile(_info(name, tarfile.SYMTYPE, 0o777, link=target))
        elif kind == "data":
            tf.addfile(_info(name, tarfile.REGTYPE, 0o644, len(value)), io.BytesIO(value))
        else:
            path = Path(value)
            executable = bool(path.stat().st_mode & 0o111)
            mode = 0o755 if executable else 0o644
            if rel in venv.scripts or rel.startswith(venv.scripts_dir + "/"):
                data = _relocate(path.read_bytes(), rel in venv.scripts, old, new, venv)
                tf.addfile(_info(name, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))
            else:
                with path.open("rb") as fh:
                    tf.addfile(_info(name, tarfile.REGTYPE, mode, path.stat().st_size), fh)
        count += 1
    return count


def _relocate(data: bytes, script: bool, old: bytes, new: bytes, venv: VenvImage) -> bytes:
    """A file of the venv's scripts directory with the temporary venv's path made the image's."""
    if script:
        here = posix_shebang(os.fsdecode(old) + f"/{venv.scripts_dir}/python")
        if data.startswith(here):
            return posix_shebang(f"{venv.path}/{venv.scripts_dir}/python") + data[len(here):]
    return data.replace(old, new)


def _walk(source: Path) -> dict[str, tuple[str, Any]]:
    """Every entry under `source` by relative path: ("dir", None), ("link", target) or
    ("file", path); anything else (a socket, a device) is refused."""
    found: dict[str, tuple[str, Any]] = {}
    for top, dirs, files in os.walk(source):
        rel_top = os.path.relpath(top, source)
        for name in dirs + files:
            full = os.path.join(top, name)
            rel = name if rel_top == "." else f"{rel_top}/{name}".replace(os.sep, "/")
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", None)
            elif stat.S_ISREG(st.st_mode):
                found[rel] = ("file", full)
            else:
                raise OSError(f"{full} is neither a file, a directory nor a link")
    return found
