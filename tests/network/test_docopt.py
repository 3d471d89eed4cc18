"""`venvd create ./env docopt` against the public index (marked `network`): docopt 0.6.2 ships only
an sdist with a setup.py, so this builds its metadata and its wheel with setuptools' legacy backend
in the sandbox, setuptools coming from PyPI as a wheel through venvd's own index client. The data dir
is given relative, as a user would type it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.network


def test_create_docopt_from_its_sdist(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENVD_")}
    done = subprocess.run(
        [sys.executable, "-m", "venvd", "create", "env", "docopt==0.6.2", "--data-dir", "ddata"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    check = subprocess.run(
        [str(tmp_path / "env" / "bin" / "python"), "-c", "import docopt; print(docopt.__version__)"],
        capture_output=True, text=True, timeout=60)
    assert check.stdout.strip() == "0.6.2", check.stderr
    built = list((tmp_path / "ddata" / "cache" / "built-v1").rglob("docopt-0.6.2-*.whl"))
    assert len(built) == 1
