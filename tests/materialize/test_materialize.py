"""End to end: build real environments from a local index, materialize them, run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.tags import sys_tags

from tests.builder.helpers import HttpFetcher, lock_for
from tests.support.dists import make_sdist, make_wheel
from tests.support.index_server import LocalIndex
from venvd.builder import MANIFEST_FORMAT, MANIFEST_NAME, Artifact, BuildCache, build_environment
from venvd.errors import BuildError, IncompatibleInterpreter, InputError
from venvd.materialize import LOCK_FILENAME, MaterializeEvent, _extract, materialize
from venvd.target import Target


def _build(tmp_path: Path, index: LocalIndex, paths: list[Path], requirements: list[str],
           target: Target | None = None) -> Artifact:
    for path in paths:
        index.add(path)
    lock = lock_for(index, paths, requirements, target=target)
    return build_environment(lock, target or Target.current(), cache=BuildCache(tmp_path / "cache"),
                             fetch=HttpFetcher())


def _app(directory: Path) -> list[Path]:
    app = make_wheel(directory, "hello-app", "1.0", requires_dist=["helper-lib>=1.1"],
                     files={"hello_app/__init__.py":
                            "import helper_lib\n"
                            "def main():\n    print('hello from', helper_lib.NAME)\n"},
                     console_scripts={"hello-app": "hello_app:main"},
                     data={"data/share/hello-app/greeting.txt": "good day\n",
                           "scripts/hello-raw": "#!python\nimport sys\nprint(sys.prefix)\n"})
    helper = make_wheel(directory, "helper-lib", "1.2",
                        files={"helper_lib/__init__.py": "NAME = 'helper'\n"})
    return [app, helper]


def test_console_script_runs_and_packages_import_from_the_new_venv(tmp_path: Path,
                                                                   index: LocalIndex) -> None:
    artifact = _build(tmp_path, index, _app(tmp_path / "d"), ["hello-app"])
    dest = tmp_path / "env with space" / "venv"  # spaces force the /bin/sh trampoline shebang
    events: list[MaterializeEvent] = []
    result = materialize(artifact.path, dest, progress=events.append)

    assert result.dest == dest and result.python == dest / "bin" / "python"
    assert result.environment == artifact.key and result.packages == 2 and result.scripts == 2
    run = subprocess.run([str(dest / "bin" / "hello-app")], capture_output=True, text=True,
                         check=True)
    assert run.stdout == "hello from helper\n"
    raw = subprocess.run([str(dest / "bin" / "hello-raw")], capture_output=True, text=True,
                         check=True)
    assert Path(raw.stdout.strip()) == dest
    out = subprocess.run([str(result.python), "-c",
                          "import hello_app, helper_lib, sys; print(hello_app.__file__)"],
                         capture_output=True, text=True, check=True)
    assert Path(out.stdout.strip()).is_relative_to(dest / artifact.manifest["layout"]["site_packages"])
    assert (dest / "share" / "hello-app" / "greeting.txt").read_text() == "good day\n"
    assert json.loads((dest / LOCK_FILENAME).read_text()) == artifact.manifest["lock"]
    assert not (dest / MANIFEST_NAME).exists()
    # Installed metadata is whole: every RECORD path exists (what an uninstaller would remove).
    check = subprocess.run([str(result.python), "-c", (
        "import importlib.metadata as m\n"
        "for d in m.distributions():\n"
        "    assert d.read_text('INSTALLER') == 'venvd\\n', d\n"
        "    missing = [str(f) for f in d.files if not f.locate().exists()]\n"
        "    assert not missing, missing\n"
        "    print(d.metadata['Name'])\n")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert sorted(check.stdout.split()) == ["hello-app", "helper-lib"]
    assert {e.step for e in events} == {"venv", "extract", "scripts", "verify"}


def test_platform_wheel_and_sdist_built_package_import(tmp_path: Path, index: LocalIndex) -> None:
    host = next(iter(sys_tags()))
    compiled = make_wheel(tmp_path / "d", "fastmod", "1.0", tag=str(host),
                          files={"fastmod/__init__.py": "KIND = 'compiled'\n"})
    sdist = make_sdist(tmp_path / "d", "from-source", "2.0", platform_specific=True)
    artifact = _build(tmp_path, index, [compiled, sdist], ["fastmod", "from-source"])
    result = materialize(artifact.path, tmp_path / "venv")
    out = subprocess.run([str(result.python), "-c",
                          "import fastmod, from_source; print(fastmod.KIND, from_source.__version__)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["compiled", "2.0"]


def test_non_empty_dest_is_refused_unless_forced(tmp_path: Path, index: LocalIndex) -> None:
    artifact = _build(tmp_path, index, _app(tmp_path / "d"), ["hello-app"])
    dest = tmp_path / "venv"
    dest.mkdir()
    (dest / "precious.txt").write_text("keep me")
    with pytest.raises(InputError, match="not empty"):
        materialize(artifact.path, dest)
    assert (dest / "precious.txt").read_text() == "keep me"
    materialize(artifact.path, dest, force=True)
    assert not (dest / "precious.txt").exists() and (dest / "bin" / "hello-app").is_file()

    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        materialize(artifact.path, a_file)
    empty = tmp_path / "empty"
    empty.mkdir()
    materialize(artifact.path, empty)  # an existing empty directory is fine
    assert (empty / "pyvenv.cfg").is_file()


def test_interpreter_mismatch_fails_before_anything_is_written(tmp_path: Path,
                                                               index: LocalIndex) -> None:
    other = "3.12" if sys.version_info[:2] != (3, 12) else "3.11"
    target = Target.from_shorthand(other, None)
    artifact = _build(tmp_path, index, _app(tmp_path / "d"), ["hello-app"], target=target)
    dest = tmp_path / "venv"
    with pytest.raises(IncompatibleInterpreter, match=f"Python {other} is wanted"):
        materialize(artifact.path, dest)
    assert not dest.exists()


def test_missing_dependency_fails_verification_and_leaves_nothing(tmp_path: Path,
                                                                  index: LocalIndex) -> None:
    app, _helper = _app(tmp_path / "d")
    artifact = _build(tmp_path, index, [app], ["hello-app"])  # helper-lib left out of the lock
    dest = tmp_path / "venv"
    with pytest.raises(BuildError) as err:
        materialize(artifact.path, dest)
    assert err.value.step == "verify"
    assert "hello-app 1.0 requires helper-lib>=1.1, which is not installed" in err.value.message
    assert "import hello_app failed" in err.value.message  # its import needs helper_lib
    assert not dest.exists()
    result = materialize(artifact.path, dest, verify=False)
    assert result.python.exists()


def test_wrong_dependency_version_and_broken_import_are_reported(tmp_path: Path,
                                                                 index: LocalIndex) -> None:
    app = make_wheel(tmp_path / "d", "app", "1.0", requires_dist=["lib>=2; python_version>='3'",
                                                                  "never; sys_platform=='win32'"])
    lib = make_wheel(tmp_path / "d", "lib", "1.0",
                     files={"lib/__init__.py": "raise RuntimeError('lib is broken')\n"})
    artifact = _build(tmp_path, index, [app, lib], ["app", "lib"])
    with pytest.raises(BuildError) as err:
        materialize(artifact.path, tmp_path / "venv")
    problems = (err.value.log_tail or "").splitlines()
    assert "app 1.0 requires lib>=2, but 1.0 is installed" in problems
    assert any(p.startswith("import lib failed: RuntimeError: lib is broken") for p in problems)
    assert not any("never" in p for p in problems)  # its marker is false for this target
    assert not (tmp_path / "venv").exists()


def test_materializer_constants_match_the_builder() -> None:
    assert _extract.MANIFEST_NAME == MANIFEST_NAME
    assert _extract.MANIFEST_FORMAT == MANIFEST_FORMAT
