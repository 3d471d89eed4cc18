"""`venvd create --python pypy3` end to end, Debian's pypy3 being a real second implementation.

The in-process service resolves and builds for PyPy's own target (pp39 tags, PyPy markers), the
client makes the venv with pypy3, and the package imports and its console script runs under
pypy3. The interpreter is probed once for the whole command. A pure sdist is built by the server
into a wheel PyPy uses; an sdist that builds a platform-specific wheel cannot be built for a
foreign interpreter: that is refused, clearly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.dists import make_sdist, make_wheel
from tests.support.index_server import LocalIndex
from tests.support.interpreters import pypy3

VENVD = [sys.executable, "-m", "venvd"]


def _run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VENVD_DATA_DIR": str(data_dir)}
    env.pop("VENVD_SERVER", None)
    return subprocess.run([*VENVD, *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture
def pypy_index(local_index: Callable[..., LocalIndex], tmp_path: Path) -> LocalIndex:
    index = local_index()
    src = tmp_path / "src"
    only_cpython = 'cpyonly; platform_python_implementation == "CPython"'
    index.add(make_wheel(
        src, "greet", "1.0", requires_dist=["words>=1", only_cpython],
        console_scripts={"greet": "greet:main"},
        files={"greet/__init__.py": "import sys\nimport words\n\ndef main():\n"
                                    "    print(words.HELLO, sys.implementation.name)\n"}))
    # A pure sdist: the server builds it (with its own interpreter) into a wheel PyPy can use.
    index.add(make_sdist(src, "words", "1.0", files={"words/__init__.py": "HELLO = 'hello from'\n"}))
    index.add(make_wheel(src, "cpyonly", "1.0"))
    index.add(make_sdist(src, "native", "1.0", platform_specific=True))
    return index


def _counting_wrapper(python: str, tmp_path: Path) -> tuple[Path, Path]:
    """A `python` that logs each of its runs, then runs pypy3."""
    log = tmp_path / "runs.log"
    wrapper = tmp_path / "bin" / "pypy-counted"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" | tr "\\n" " " >> "{log}"\n'
                       f'echo >> "{log}"\nexec "{python}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, log


def test_create_for_pypy_imports_and_runs_a_console_script(pypy_index: LocalIndex,
                                                           tmp_path: Path) -> None:
    python = pypy3()
    wrapper, log = _counting_wrapper(python, tmp_path)
    dest = tmp_path / "env"
    out = _run("create", str(dest), "greet", "--python", str(wrapper), "--index-url",
               pypy_index.url, data_dir=tmp_path / "data")
    assert out.returncode == 0, out.stderr
    runs = log.read_text().splitlines()
    assert len(runs) == 1 and "_probe.py" in runs[0], runs  # one probe for the whole command

    lock = json.loads((dest / "venvd.lock.json").read_text())
    target = lock["target"]
    assert target["marker_environment"]["platform_python_implementation"] == "PyPy"
    assert target["compatible_tags"][0].startswith("pp3")
    # cpyonly's marker is false for PyPy: resolved for the target, not for the host.
    assert sorted(p["name"] for p in lock["packages"]) == ["greet", "words"]

    venv_python = dest / "bin" / "python"
    check = subprocess.run([str(venv_python), "-c", "import sys, greet, words; "
                            "print(sys.implementation.name, greet.__file__)"],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    name, where = check.stdout.split()
    assert name == "pypy" and "/lib/pypy3." in where
    words = next(p for p in lock["packages"] if p["name"] == "words")
    assert [f["filename"] for f in words["files"]] == ["words-1.0.tar.gz"]  # built, not fetched
    hello = subprocess.run([str(dest / "bin" / "greet")], capture_output=True, text=True,
                           timeout=120)
    assert hello.returncode == 0, hello.stderr
    assert hello.stdout.strip() == "hello from pypy"


def test_a_platform_specific_sdist_for_pypy_is_refused_clearly(pypy_index: LocalIndex,
                                                                tmp_path: Path) -> None:
    dest = tmp_path / "env"
    out = _run("create", str(dest), "native", "--python", pypy3(), "--index-url", pypy_index.url,
               data_dir=tmp_path / "data")
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert "pp3" in out.stderr and "server's own platform" in out.stderr, out.stderr
    assert not dest.exists()


def test_one_probe_serves_the_target_and_materialize(tmp_path: Path, index: LocalIndex) -> None:
    """In-process, every probe child is counted: the one that made the target is the only one,
    though materialize checks the interpreter (and its venv layout) again on the manifest."""
    from tests.builder.helpers import HttpFetcher, lock_for
    from venvd.builder import BuildCache, build_environment
    from venvd.materialize import materialize
    from venvd.target import probe_interpreter
    from venvd.target._interpreter import probe_runs

    info = probe_interpreter(pypy3())  # a child, unless an earlier test here probed pypy3
    probed = probe_runs()
    wheel = make_wheel(tmp_path / "src", "greet", "1.0")
    index.add(wheel)
    artifact = build_environment(lock_for(index, [wheel], target=info.target), info.target,
                                 cache=BuildCache(tmp_path / "cache"), fetch=HttpFetcher())
    assert artifact.manifest["layout"]["site_packages"] == info.venv["purelib"]
    result = materialize(artifact.path, tmp_path / "env", python=info.executable)
    assert probe_runs() == probed
    out = subprocess.run([str(result.python), "-c", "import greet, sys; print(sys.implementation.name)"],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "pypy", out.stderr
