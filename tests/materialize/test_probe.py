"""The self-contained interpreter probe: the same markers and tags as `packaging`, one run per
interpreter, clear errors for what is not a usable interpreter.

The running interpreter is compared with the installed packaging (in-process and through a child
running the probe file). PyPy is compared inside Debian's pypy3 with the packaging vendored in the
pip wheel that ensurepip carries (21.3: the newest packaging, 26.x, needs Python 3.10). That
release orders native ``linux_*`` platforms after ``manylinux``/``musllinux``; packaging 26.3
moved them first, which the probe follows, so the PyPy comparison rebuilds 21.3's tags over the
platforms in the new order and checks that only the order differed.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.tags import sys_tags

from tests.support.interpreters import bundled_wheel, pypy3
from venvd.errors import InputError
from venvd.target import Target, probe_interpreter
from venvd.target._interpreter import _BOOTSTRAP, _PROBE_FILE, probe_runs
from venvd.target._probe import describe

# Runs inside pypy3 with pip's wheel on sys.path: what packaging (21.3) says of pypy3.
_PACKAGING_IN_CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from pip._vendor.packaging import markers, tags
platforms = list(tags.platform_tags())
reordered = ([p for p in platforms if p.startswith("linux_")]
             + [p for p in platforms if not p.startswith("linux_")])
expected = list(tags.generic_tags(platforms=reordered))
expected += list(tags.compatible_tags(interpreter="pp3", platforms=reordered))
print(json.dumps({"sys_tags": [str(t) for t in tags.sys_tags()],
                  "expected": [str(t) for t in expected],
                  "markers": markers.default_environment()}))
"""


def _child_probe(python: str) -> dict[str, object]:
    out = subprocess.run([python, "-E", "-s", "-c", _BOOTSTRAP, _PROBE_FILE],
                         capture_output=True, text=True, check=True, timeout=120)
    data: dict[str, object] = json.loads(out.stdout)
    return data


def test_running_interpreter_matches_packaging_in_process_and_in_a_child() -> None:
    tags = [str(t) for t in sys_tags()]
    markers = default_environment()
    here = describe()
    assert here["compatible_tags"] == tags
    assert here["marker_environment"] == markers
    child = _child_probe(sys.executable)
    assert child["compatible_tags"] == tags
    assert child["marker_environment"] == markers
    assert child["implementation"] == sys.implementation.name
    assert child["version"] == list(sys.version_info)


def test_running_interpreter_is_described_without_a_child() -> None:
    before = probe_runs()
    info = probe_interpreter(sys.executable)
    assert probe_runs() == before
    assert info.target == Target.current()
    assert info.executable == str(Path(sys.executable).absolute())


def _venv_made_by(python: str, dest: Path) -> None:
    subprocess.run([python, "-m", "venv", "--without-pip", str(dest)], check=True, timeout=300)


@pytest.mark.parametrize("which", ["this", "pypy3"])
def test_venv_paths_are_where_the_venv_module_puts_them(which: str, tmp_path: Path) -> None:
    python = sys.executable if which == "this" else pypy3()
    info = probe_interpreter(python)
    _venv_made_by(info.executable, tmp_path / "env")
    assert (tmp_path / "env" / info.venv["purelib"]).is_dir(), info.venv
    assert (tmp_path / "env" / info.venv["scripts"] / "python").exists(), info.venv
    assert info.venv["platlib"] == info.venv["purelib"]


def test_pypy_matches_packaging_inside_pypy() -> None:
    python = pypy3()
    before = probe_runs()
    info = probe_interpreter(python)
    again = probe_interpreter(python)
    assert again is info and probe_runs() - before <= 1  # one child, or none if already known
    pip = bundled_wheel("pip")
    assert pip is not None, "ensurepip carries no pip wheel"
    out = subprocess.run([python, "-c", _PACKAGING_IN_CHILD, str(pip)], capture_output=True,
                         text=True, check=True, timeout=120)
    reference = json.loads(out.stdout)
    assert info.marker_environment == reference["markers"]
    assert list(info.compatible_tags) == reference["expected"]
    assert sorted(reference["expected"]) == sorted(reference["sys_tags"])  # only the order moved


def test_pypy_tags_and_markers_have_pypys_shapes() -> None:
    info = probe_interpreter(pypy3())
    env = info.marker_environment
    assert env["implementation_name"] == "pypy"
    assert env["platform_python_implementation"] == "PyPy"
    assert info.implementation == "pypy"
    nodot = f"{info.version[0]}{info.version[1]}"
    machine = platform.machine()
    tags = info.compatible_tags
    assert re.fullmatch(rf"pp{nodot}-pypy{nodot}_pp\d+-linux_{machine}", tags[0]), tags[0]
    assert re.fullmatch(rf"pp{nodot}-pypy{nodot}_pp\d+", info.interpreter_abi)
    assert f"{info.interpreter_abi}-manylinux_2_17_{machine}" in tags
    assert f"{info.interpreter_abi}-manylinux2014_{machine}" in tags
    assert not any(t.startswith("cp") for t in tags)
    assert tags.index("pp3-none-any") < tags.index("py3-none-any") == len(tags) - 10
    assert tags[-1] == "py30-none-any"
    assert info.venv["purelib"] == f"lib/pypy{info.python_version}/site-packages"
    Target.from_json(info.target_json())  # the server takes it


def test_what_is_not_an_interpreter_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot run interpreter .*no-such-python"):
        probe_interpreter(str(tmp_path / "no-such-python"))
    with pytest.raises(InputError, match="cannot run interpreter /bin/false: no output"):
        probe_interpreter("/bin/false")
    with pytest.raises(InputError, match="cannot describe interpreter /bin/echo"):
        probe_interpreter("/bin/echo")
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'python: cannot find its standard library' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(InputError, match="cannot find its standard library"):
        probe_interpreter(str(broken))
