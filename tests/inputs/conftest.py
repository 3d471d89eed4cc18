"""A small world on a real local index, services over it, and the real tools (uv, pip) that
write pylock.toml files from it.

app 1.0 ──▶ lib>=1            lib 1.0, 2.0
native 1.0   a manylinux wheel and a win_amd64 wheel
tool 1.0, left 1.0, right 1.0 (extras and dependency groups pick them)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import api, make_service  # noqa: F401 - fixtures used here too
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex

LINUX_311 = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}
WINDOWS_311 = {"python": "3.11", "platform": "win_amd64"}


@pytest.fixture
def shop(local_index: Callable[..., LocalIndex], tmp_path: Path) -> LocalIndex:
    index = local_index()
    src = tmp_path / "src"
    index.add(make_wheel(src, "app", "1.0", requires_dist=["lib>=1"]))
    index.add(make_wheel(src, "lib", "1.0"))
    index.add(make_wheel(src, "lib", "2.0"))
    index.add(make_wheel(src, "native", "1.0", tag="cp311-cp311-manylinux_2_28_x86_64"))
    index.add(make_wheel(src, "native", "1.0", tag="cp311-cp311-win_amd64"))
    for name in ("tool", "left", "right"):
        index.add(make_wheel(src, name, "1.0"))
    return index


def _tool_env() -> dict[str, str]:
    """This process's environment without the pip/uv settings of the machine (its own indexes
    and find-links would leak into the locks)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}


def _run(args: list[str], **kwargs: Any) -> None:
    done = subprocess.run(args, env=_tool_env(), capture_output=True, text=True, timeout=300, **kwargs)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args[:3])} failed: {done.stderr.strip()[-2000:]}")


def uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        pytest.fail("uv is a test dependency ('.[test]') and is not installed")
    return found


@pytest.fixture
def uv_compile(tmp_path: Path) -> Callable[..., str]:
    """`uv pip compile REQS -o pylock.toml` from an index: the pylock's text."""

    def run(index: LocalIndex, requirements: list[str], *extra: str) -> str:
        work = tmp_path / f"uv-compile-{len(list(tmp_path.glob('uv-compile-*')))}"
        work.mkdir()
        (work / "requirements.in").write_text("\n".join(requirements) + "\n")
        _run([uv(), "pip", "compile", "requirements.in", "-o", "pylock.toml", "--no-config",
              "--index-url", index.url, "--cache-dir", str(tmp_path / "uv-cache"),
              "--python-version", "3.11", "-q", *extra], cwd=work)
        return (work / "pylock.toml").read_text()

    return run


@pytest.fixture
def uv_export(tmp_path: Path) -> Callable[..., str]:
    """`uv lock` + `uv export --format pylock.toml` of a project depending on `dependencies`: a
    universal lock, with markers."""

    def run(index: LocalIndex, dependencies: list[str]) -> str:
        work = tmp_path / "uv-project"
        work.mkdir()
        listed = ", ".join(json.dumps(d) for d in dependencies)  # TOML basic strings
        (work / "pyproject.toml").write_text(
            f"[project]\nname = 'proj'\nversion = '0.1'\nrequires-python = '>=3.11'\n"
            f"dependencies = [{listed}]\n")
        common = ["--no-config", "--cache-dir", str(tmp_path / "uv-cache"), "-q"]
        for args in (["lock", "--default-index", index.url],
                     ["export", "--format", "pylock.toml", "--no-emit-project", "-o", "pylock.toml"]):
            _run([uv(), *args, *common], cwd=work)
        return (work / "pylock.toml").read_text()

    return run


@pytest.fixture(scope="session")
def recent_pip() -> Path:
    """pip>=25.1 (the first with `pip lock`): the test extra installs it beside the tests, so no
    test reaches the public index for it."""
    from importlib.metadata import version

    from packaging.version import Version

    assert Version(version("pip")) >= Version("25.1"), "the test extra asks for pip>=25.1"
    return Path(sys.executable).parent / "pip"


@pytest.fixture
def pip_lock(recent_pip: Path, tmp_path: Path) -> Callable[..., str]:
    """`pip lock REQS -o pylock.toml` from an index (pip's own settings ignored: --isolated)."""

    def run(index: LocalIndex, requirements: list[str]) -> str:
        out = tmp_path / "pip-lock" / "pylock.toml"
        out.parent.mkdir(exist_ok=True)
        _run([str(recent_pip), "--isolated", "lock", *requirements, "--index-url", index.url,
              "-o", str(out), "-q"])
        return out.read_text()

    return run
