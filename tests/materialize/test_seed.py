"""`venvd create --seed`: pip in the new venv (setuptools and wheel too below Python 3.12), as
`uv venv --seed` gives; none without it.

The index serves the real pip wheel that this interpreter's ensurepip carries, so ``python -m pip``
really runs in the seeded venv. setuptools and wheel are stand-ins built here: what is tested is
that they are resolved and installed as seeds, not the projects themselves. (The setuptools that
ensurepip of 3.11 carries, 65.5, cannot be imported after its own pkg_resources in one process,
which the verification's single import child does; setuptools releases since 81 have no
pkg_resources.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from tests.support.interpreters import bundled_wheel

VENVD = [sys.executable, "-m", "venvd"]
OLD_PYTHON = sys.version_info < (3, 12)


def _run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VENVD_DATA_DIR": str(data_dir)}
    env.pop("VENVD_SERVER", None)
    return subprocess.run([*VENVD, *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture
def seed_index(local_index: Callable[..., LocalIndex], tmp_path: Path) -> LocalIndex:
    index = local_index()
    src = tmp_path / "src"
    index.add(make_wheel(src, "app", "1.0"))
    pip = bundled_wheel("pip")
    assert pip is not None, f"ensurepip of {sys.executable} carries no pip wheel"
    index.add(pip)
    if OLD_PYTHON:
        index.add(make_wheel(src, "setuptools", "80.9.0"))
        index.add(make_wheel(src, "wheel", "0.45.1"))
    return index


def test_seed_installs_pip_and_unseeded_has_none(seed_index: LocalIndex, tmp_path: Path) -> None:
    seeded, plain = tmp_path / "seeded", tmp_path / "plain"
    out = _run("create", str(seeded), "app", "--seed", "--index-url", seed_index.url,
               data_dir=tmp_path / "data")
    assert out.returncode == 0, out.stderr
    pip = subprocess.run([str(seeded / "bin" / "python"), "-m", "pip", "--version"],
                         capture_output=True, text=True, timeout=120)
    assert pip.returncode == 0, pip.stderr
    assert pip.stdout.startswith("pip ") and str(seeded) in pip.stdout
    script = subprocess.run([str(seeded / "bin" / "pip"), "--version"], capture_output=True,
                            text=True, timeout=120)
    assert script.returncode == 0, script.stderr
    names = {p["name"] for p in json.loads((seeded / "venvd.lock.json").read_text())["packages"]}
    assert names == ({"app", "pip", "setuptools", "wheel"} if OLD_PYTHON else {"app", "pip"})

    out = _run("create", str(plain), "app", "--index-url", seed_index.url,
               data_dir=tmp_path / "data")
    assert out.returncode == 0, out.stderr
    none = subprocess.run([str(plain / "bin" / "python"), "-m", "pip", "--version"],
                          capture_output=True, text=True, timeout=120)
    assert none.returncode != 0 and "No module named pip" in none.stderr
    assert not (plain / "bin" / "pip").exists()


def test_seed_with_a_lock_lacking_pip_is_refused(seed_index: LocalIndex, tmp_path: Path) -> None:
    lock = tmp_path / "lock.json"
    out = _run("resolve", "app", "-o", str(lock), "--index-url", seed_index.url,
               data_dir=tmp_path / "data")
    assert out.returncode == 0, out.stderr
    refused = _run("create", str(tmp_path / "env"), "--lock", str(lock), "--seed",
                   "--index-url", seed_index.url, data_dir=tmp_path / "data")
    assert refused.returncode == 2
    assert "--seed" in refused.stderr and "lacks pip" in refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
