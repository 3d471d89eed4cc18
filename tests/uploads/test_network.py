"""Against the public index (marked `network`; two or three project pages): a private index may not
take a name PyPI has, and a private package resolves with its dependency from PyPI."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.dists import make_wheel

pytestmark = pytest.mark.network


def _venvd(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENVD_")}
    env.update(VENVD_DATA_DIR=str(data), VENVD_PRIVATE_INDEXES=json.dumps({"team": []}))
    return subprocess.run([sys.executable, "-m", "venvd", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_pypi_names_are_refused_and_private_packages_resolve_with_pypi(tmp_path: Path) -> None:
    data = tmp_path / "data"
    taken = _venvd("upload", str(make_wheel(tmp_path / "a", "requests", "0.0.1")), data=data)
    assert taken.returncode == 1 and "exists on an upstream index" in taken.stderr, taken.stderr
    # A name PyPI does not have (random, and PEP 503-normalized to itself).
    name = f"venvd-private-test-{secrets.token_hex(6)}"
    wheel = make_wheel(tmp_path / "b", name, "1.0", requires_dist=["six==1.16.0"])
    done = _venvd("upload", str(wheel), data=data)
    assert done.returncode == 0, done.stderr
    lock = _venvd("resolve", name, "--python", "3.11", "--platform", "manylinux_2_28_x86_64",
                  data=data)
    assert lock.returncode == 0, lock.stderr
    urls = {p["name"]: p["files"][0]["url"] for p in json.loads(lock.stdout)["packages"]}
    assert urls[name].startswith("venvd-private://team/")
    assert urls["six"].startswith("https://files.pythonhosted.org/")
