"""check_interpreter against targets, and the interpreter lines the client writes into scripts."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.builder.helpers import HttpFetcher, lock_for, read_members, windows_target
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.builder import BuildCache, build_environment
from venvd.errors import IncompatibleInterpreter, InputError
from venvd.materialize import check_interpreter
from venvd.materialize._scripts import posix_shebang, rewrite_scripts
from venvd.target import Target


def _current(**env: str) -> dict[str, object]:
    data = Target.current().to_json()
    data["marker_environment"].update(env)
    return data


def test_matching_interpreter_passes_in_process_and_in_a_child() -> None:
    check_interpreter(Target.current().to_json(), sys.executable)
    base = shutil.which(f"python{sys.version_info[0]}.{sys.version_info[1]}")
    if base is None or Path(base).resolve() == Path(sys.executable).resolve():
        pytest.skip("no second path to this interpreter version")
    check_interpreter(Target.current().to_json(), base)  # described by a probe child


@pytest.mark.parametrize(("change", "message"), [
    ({"python_version": "3.99"}, "Python 3.99 is wanted"),
    ({"implementation_name": "pypy"}, "pypy is wanted"),
    ({"sys_platform": "win32"}, "sys_platform win32 is wanted"),
])
def test_mismatched_target_is_refused(change: dict[str, str], message: str) -> None:
    with pytest.raises(IncompatibleInterpreter, match=message) as err:
        check_interpreter(_current(**change), sys.executable)
    assert err.value.exit_code == 2  # an input error


def test_abi_mismatch_is_refused() -> None:
    data = Target.current().to_json()
    first = data["compatible_tags"][0].split("-")
    data["compatible_tags"][0] = "-".join([first[0], first[1] + "t", first[2]])  # free-threaded
    with pytest.raises(IncompatibleInterpreter, match="ABI"):
        check_interpreter(data, sys.executable)


def test_unrunnable_interpreter_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot run interpreter"):
        check_interpreter(Target.current().to_json(), str(tmp_path / "no-such-python"))


def test_posix_shebang_uses_a_trampoline_for_spaces_and_long_paths(tmp_path: Path) -> None:
    assert posix_shebang("/opt/env/bin/python") == b"#!/opt/env/bin/python\n"
    assert posix_shebang("/x" * 70 + "/python").startswith(b"#!/bin/sh\n'''exec' ")
    bindir = tmp_path / "my env" / "bin"  # a real interpreter behind a path with a space
    bindir.mkdir(parents=True)
    os.symlink(sys.executable, bindir / "python")
    line = posix_shebang(str(bindir / "python"))
    assert line.startswith(b"#!/bin/sh\n'''exec' ")
    script = tmp_path / "script"
    script.write_bytes(line + b"import sys\nprint(sys.argv[1:])\n")
    script.chmod(0o755)
    out = subprocess.run([str(script), "a b"], capture_output=True, text=True, check=True)
    assert out.stdout == "['a b']\n"


def test_windows_launchers_are_pointed_at_the_venv(tmp_path: Path, index: LocalIndex) -> None:
    wheel = make_wheel(tmp_path / "d", "tool", "1.0",
                       data={"scripts/plain": "#!python\nprint(1)\n"},
                       extra_members={"tool-1.0.dist-info/entry_points.txt":
                                      "[console_scripts]\ntool = tool:main\n"
                                      "[gui_scripts]\ntool-gui = tool:main\n"})
    index.add(wheel)
    artifact = build_environment(lock_for(index, [wheel], target=windows_target()),
                                 windows_target(), cache=BuildCache(tmp_path / "c"),
                                 fetch=HttpFetcher())
    dest = tmp_path / "win env"
    for name, (_info, data) in read_members(artifact.path).items():
        if name.startswith("Scripts/"):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(data)
    changed = rewrite_scripts(dest, artifact.manifest["scripts"], "/__venvd_python__",
                              windows=True, scripts_dir="Scripts")
    assert changed == 3, artifact.manifest["scripts"]
    console = (dest / "Scripts" / "tool.exe").read_bytes()
    gui = (dest / "Scripts" / "tool-gui.exe").read_bytes()
    python = str(dest / "Scripts" / "python.exe")
    assert f'#!"{python}"\n'.encode() in console and b"__venvd_python" not in console
    assert f'#!"{dest / "Scripts" / "pythonw.exe"}"\n'.encode() in gui
    assert console[:2] == b"MZ"
    with zipfile.ZipFile(io.BytesIO(console)) as zf:  # the appended zip still reads
        assert b"from tool import main" in zf.read("__main__.py")
    assert (dest / "Scripts" / "plain").read_bytes() == f'#!"{python}"\nprint(1)\n'.encode()


def test_a_layout_other_than_the_interpreters_venvs_is_refused() -> None:
    site = f"lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"
    same = {"site_packages": site, "scripts": "bin", "kind": "posix"}
    check_interpreter(Target.current().to_json(), sys.executable, layout=same)
    free_threaded = {**same, "site_packages": site.replace("/site", "t/site")}
    with pytest.raises(IncompatibleInterpreter, match=r"puts site_packages in lib/python3\.\d+t/"):
        check_interpreter(Target.current().to_json(), sys.executable, layout=free_threaded)
