"""The self-contained interpreter probe: the same markers and tags as `packaging`, one run per
interpreter, clear errors for what is not a usable interpreter.

The running interpreter is compared with the installed packaging (in-process and through a child
running the probe file); every other CPython pyenv keeps on this machine (2.7 to 3.13) and Debian's
pypy3 with what packaging computes inside that interpreter: a copy of the installed packaging on
3.10+, else (3.8, 3.9, PyPy 3.9) the packaging 21.3 vendored in the pip wheel ensurepip carries,
its tags rebuilt with the changes packaging made since (see _PACKAGING_IN_CHILD). Older
interpreters are refused with their version.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import default_environment
from packaging.tags import sys_tags

from tests.support.interpreters import bundled_wheel, pypy3
from venvd.errors import IncompatibleInterpreter, InputError
from venvd.target import Target, probe_interpreter
from venvd.target._interpreter import _BOOTSTRAP, _PROBE_FILE, probe_runs
from venvd.target._probe import describe

# Runs inside another interpreter: what packaging says of it. argv[1] is a copy of the installed
# packaging (Python 3.10+), or pip's wheel, whose vendored packaging 21.3 still runs on 3.8 and 3.9.
# 21.3's tags are rebuilt with the two changes packaging made since: platforms in 26.3's order
# (linux_* first), and CPython's own ``cpXY-none-any`` before the ``py*-none-any`` tags.
_PACKAGING_IN_CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
if sys.argv[1].endswith(".whl"):
    from pip._vendor.packaging import markers, tags
    platforms = list(tags.platform_tags())
    reordered = ([p for p in platforms if p.startswith("linux_")]
                 + [p for p in platforms if not p.startswith("linux_")])
    name = tags.interpreter_name()
    if name == "cp":
        expected = list(tags.cpython_tags(platforms=reordered))
    else:
        expected = list(tags.generic_tags(platforms=reordered))
    own = {"pp": "pp3", "cp": "cp" + tags.interpreter_version()}.get(name)
    expected += list(tags.compatible_tags(interpreter=own, platforms=reordered))
else:
    from packaging import markers, tags
    expected = list(tags.sys_tags())
print(json.dumps({"sys_tags": [str(t) for t in tags.sys_tags()],
                  "expected": [str(t) for t in expected],
                  "markers": markers.default_environment()}))
"""


def _packaging_says(python: str, version: tuple[int, ...], tmp_path: Path) -> dict[str, Any]:
    """What packaging computes inside `python` (see _PACKAGING_IN_CHILD)."""
    if version >= (3, 10):
        import packaging

        shutil.copytree(Path(packaging.__file__).parent, tmp_path / "pk" / "packaging")
        where = str(tmp_path / "pk")
    else:
        pip = bundled_wheel("pip")
        assert pip is not None, "ensurepip carries no pip wheel"
        where = str(pip)
    out = subprocess.run([python, "-c", _PACKAGING_IN_CHILD, where], capture_output=True,
                         text=True, check=True, timeout=120)
    reference: dict[str, Any] = json.loads(out.stdout)
    expected, said = set(reference["expected"]), set(reference["sys_tags"])
    assert said <= expected  # nothing dropped by the rebuild...
    nodot = "".join(map(str, version[:2]))
    assert expected - said <= {f"cp{nodot}-none-any"}  # ...and only that one tag added
    return reference


def _pyenv_pythons() -> list[str]:
    """Interpreters pyenv keeps on this machine (python3.X, python2.7), oldest first."""
    found = glob.glob(os.path.expanduser("~/.pyenv/versions/*/bin/python[23].[0-9]*"))
    return sorted((p for p in found if re.search(r"python\d\.\d+$", p)),
                  key=lambda p: [int(n) for n in re.findall(r"\d+", Path(p).name)])


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


def test_pypy_matches_packaging_inside_pypy(tmp_path: Path) -> None:
    python = pypy3()
    before = probe_runs()
    info = probe_interpreter(python)
    again = probe_interpreter(python)
    assert again is info and probe_runs() - before <= 1  # one child, or none if already known
    reference = _packaging_says(python, info.version, tmp_path)
    assert info.marker_environment == reference["markers"]
    assert list(info.compatible_tags) == reference["expected"]


@pytest.mark.parametrize("python", _pyenv_pythons() or [None],
                         ids=lambda p: Path(p).name if p else "none")
def test_other_cpythons_match_packaging_or_are_refused(python: str | None,
                                                       tmp_path: Path) -> None:
    """Every CPython pyenv has here: 3.8+ described as packaging describes it, older refused."""
    if python is None:
        pytest.skip("no pyenv interpreters on this machine")
    version = tuple(int(n) for n in re.findall(r"\d+", Path(python).name))
    if version < (3, 8):
        with pytest.raises(IncompatibleInterpreter, match=r"3\.8 or newer"):
            probe_interpreter(python)
        return
    info = probe_interpreter(python)
    assert info.version[:2] == version
    reference = _packaging_says(python, version, tmp_path)
    assert info.marker_environment == reference["markers"]
    assert list(info.compatible_tags) == reference["expected"]


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


def test_an_interpreter_older_than_38_is_refused_with_its_version(tmp_path: Path) -> None:
    # What the bootstrap prints under Python 2.7 (it never compiles the probe there).
    old = tmp_path / "python2.7"
    old.write_text("#!/bin/sh\nprintf '{\"unsupported\": \"2.7.18\"}'\n")
    old.chmod(0o755)
    with pytest.raises(IncompatibleInterpreter, match=r"is Python 2\.7\.18: .*3\.8 or newer"):
        probe_interpreter(str(old))


def test_an_untagged_build_gets_a_pep440_full_version() -> None:
    here = probe_interpreter(sys.executable)
    full = here.marker_environment["python_full_version"]
    untagged = dataclasses.replace(
        here, marker_environment={**here.marker_environment, "python_full_version": full + "+"})
    target = Target.from_json(untagged.target_json())
    assert target.marker_environment["python_full_version"] == full + "+local"
    assert target.evaluate(f'python_full_version >= "{full}"')
