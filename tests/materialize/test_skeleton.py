"""The venv skeleton made in venvd's own process (`_VenvProcess` for the running interpreter) is the
one ``python -m venv --without-pip`` makes: the same files and links, the same configuration, and
a working interpreter; another interpreter still makes its own in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from venvd.materialize._materialize import _VenvProcess

_LAYOUT = {"kind": "posix", "scripts": "bin"}


def _tree(root: Path) -> dict[str, str]:
    """Relative path -> what it is (a link's target; a file's text with the root's name replaced)."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = "-> " + os.readlink(path)
        elif path.is_dir():
            found[rel] = "dir"
        else:
            found[rel] = path.read_text().replace(str(root), "ROOT").replace(root.name, "NAME")
    return found


def test_the_in_process_skeleton_is_what_python_m_venv_makes(tmp_path: Path) -> None:
    reference, ours = tmp_path / "reference", tmp_path / "ours"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(reference)], check=True,
                   timeout=120)
    maker = _VenvProcess(sys.executable, ours, _LAYOUT)
    assert maker.thread is not None and maker.proc is None  # made here, not by a child
    python = maker.wait()
    assert _tree(ours) == _tree(reference)
    out = subprocess.run([str(python), "-c", "import sys; print(sys.prefix != sys.base_prefix)"],
                         capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout == "True\n"


def test_another_interpreter_makes_its_own_skeleton(tmp_path: Path) -> None:
    # The reference venv's python is another path to the same binary: still made here. A copy of
    # the interpreter is another interpreter.
    reference = tmp_path / "reference"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(reference)], check=True,
                   timeout=120)
    same = _VenvProcess(str(reference / "bin" / "python"), tmp_path / "same", _LAYOUT)
    assert same.thread is not None
    same.wait()
    other = _VenvProcess("/bin/sh", tmp_path / "other", _LAYOUT)  # not a Python at all
    assert other.proc is not None and other.thread is None
    other.kill()
