"""`venvd resolve` / `venvd create` with `-r` documents of every kind, as a user runs them (real
subprocesses, the real local index, the in-process service)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.index_server import LocalIndex

ENVIRONMENT_YML = """\
name: web
channels:
  - conda-forge
dependencies:
  - python=3.12
  - pip
  - pip:
    - app
    - -c constraints.txt
"""

PYPROJECT = """\
[project]
name = "proj"
version = "0.1"
requires-python = ">=3.11"
dependencies = ["app"]

[project.optional-dependencies]
cli = ["tool"]

[dependency-groups]
test = ["left", {include-group = "lint"}]
lint = ["right"]
"""


def venvd(*args: str, data_dir: Path, env: dict[str, str] | None = None,
          timeout: float = 180) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "VENVD_DATA_DIR": str(data_dir), **(env or {})}
    full.pop("VENVD_SERVER", None)
    return subprocess.run([sys.executable, "-m", "venvd", *args], capture_output=True, text=True,
                          env=full, timeout=timeout)


def _one_line_error(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.strip().splitlines() if not line.startswith("venvd: note: ")]
    assert len(lines) == 1 and lines[0].startswith("venvd: error: "), out.stderr
    return lines[0]


def test_resolve_an_environment_yml(shop: LocalIndex, tmp_path: Path) -> None:
    (tmp_path / "constraints.txt").write_text("lib<2\n")
    yml = tmp_path / "environment.yml"
    yml.write_text(ENVIRONMENT_YML)
    out = venvd("resolve", "-r", str(yml), "--platform", "manylinux_2_28_x86_64",
                "--index-url", shop.url, data_dir=tmp_path / "data")
    assert out.returncode == 0, out.stderr
    lock = json.loads(out.stdout)
    assert {p["name"]: p["version"] for p in lock["packages"]} == {"app": "1.0", "lib": "1.0"}
    assert lock["target"]["marker_environment"]["python_version"] == "3.12"  # from python=3.12
    assert f"venvd: note: {yml}:2: 'channels' ignored" in out.stderr


def test_a_python_that_disagrees_with_the_environment_yml_is_refused(
        shop: LocalIndex, tmp_path: Path) -> None:
    (tmp_path / "constraints.txt").write_text("")
    yml = tmp_path / "environment.yml"
    yml.write_text(ENVIRONMENT_YML)
    line = _one_line_error(venvd("resolve", "-r", str(yml), "--python", "3.11", "--index-url",
                                 shop.url, data_dir=tmp_path / "data"))
    assert f"{yml}:5: asks for Python 3.12, but --python is Python 3.11" in line
    # venvd create looks for python3.X on PATH when --python is not given
    yml.write_text(ENVIRONMENT_YML.replace("python=3.12", "python=3.99"))
    line = _one_line_error(venvd("create", str(tmp_path / "env"), "-r", str(yml), "--index-url",
                                 shop.url, data_dir=tmp_path / "data"))
    assert f"{yml}:5 asks for Python 3.99, and there is no python3.99 on PATH" in line


def test_conda_packages_are_refused_or_skipped(shop: LocalIndex, tmp_path: Path) -> None:
    yml = tmp_path / "env.yaml"
    yml.write_text("dependencies:\n  - numpy\n  - pip:\n    - app\n")
    line = _one_line_error(venvd("resolve", "-r", str(yml), "--index-url", shop.url,
                                 data_dir=tmp_path / "data"))
    assert "conda packages other than python and pip" in line and "numpy (line 2)" in line
    out = venvd("resolve", "-r", str(yml), "--skip-conda-packages", "--index-url", shop.url,
                data_dir=tmp_path / "data")
    assert out.returncode == 0, out.stderr
    assert "venvd: warning: " in out.stderr and "left out (--skip-conda-packages): numpy" in out.stderr


def test_resolve_a_pyproject_with_extras_and_groups(shop: LocalIndex, tmp_path: Path) -> None:
    project = tmp_path / "pyproject.toml"
    project.write_text(PYPROJECT)
    out = venvd("resolve", "-r", str(project), "--extra", "cli", "--group", "test", "--python",
                "3.11", "--index-url", shop.url, data_dir=tmp_path / "data")
    assert out.returncode == 0, out.stderr
    names = {p["name"] for p in json.loads(out.stdout)["packages"]}
    assert names == {"app", "lib", "tool", "left", "right"}
    line = _one_line_error(venvd("resolve", "-r", str(project), "--python", "3.10",
                                 "--index-url", shop.url, data_dir=tmp_path / "data"))
    assert "requires-python '>=3.11' excludes the target (Python 3.10" in line
    line = _one_line_error(venvd("resolve", "-r", str(project), "--group", "docs",
                                 "--index-url", shop.url, data_dir=tmp_path / "data"))
    assert "no dependency group 'docs' (it has: lint, test)" in line
    # --file-type forces the kind of a file whose name says nothing
    other = tmp_path / "deps.cfg"
    other.write_text(PYPROJECT)
    out = venvd("resolve", "-r", str(other), "--file-type", "pyproject.toml", "--python", "3.11",
                "--index-url", shop.url, data_dir=tmp_path / "data")
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize(("name", "text", "needle"), [
    ("environment.yml", "name: x\ndependencies:\n  - pip:\n    - app\n  - [oops\n",
     "environment.yml:5: not valid YAML"),
    ("environment.yml", "dependencies:\n  - pip:\n    - -e .\n", "environment.yml:3: editable"),
    ("pyproject.toml", "[project]\nname = 'p'\ndependencies = ['app', 'lib>>2']\n",
     "pyproject.toml:3: dependencies: 'lib>>2' is not a valid requirement"),
    ("pyproject.toml", "[project]\nname = 'p'\ndynamic = ['dependencies']\n",
     "pyproject.toml:3: [project] dependencies are dynamic"),
    ("requirements.txt", "app\n./local-checkout\n", "requirements.txt:2: './local-checkout' is a "
                                                    "local path"),
])
def test_a_broken_document_exits_2_and_changes_nothing(
        shop: LocalIndex, tmp_path: Path, name: str, text: str, needle: str) -> None:
    warm = venvd("resolve", "app", "--python", "3.11", "--index-url", shop.url,
                 data_dir=tmp_path / "data")
    assert warm.returncode == 0, warm.stderr
    before = _tree(tmp_path / "data")
    asked = len(shop.requests)
    path = tmp_path / name
    path.write_text(text)
    line = _one_line_error(venvd("resolve", "-r", str(path), "--python", "3.11", "--index-url",
                                 shop.url, data_dir=tmp_path / "data"))
    assert needle in line
    assert _tree(tmp_path / "data") == before  # no file of the data dir (caches, store) touched
    assert len(shop.requests) == asked  # and nothing asked of the index


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_hash_pins_are_honoured(shop: LocalIndex, tmp_path: Path) -> None:
    app = shop.files["app-1.0-py3-none-any.whl"].sha256
    lib = shop.files["lib-1.0-py3-none-any.whl"].sha256
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(f"app==1.0 --hash=sha256:{app}\nlib==1.0 \\\n    --hash=sha256:{lib}\n")
    out = venvd("resolve", "-r", str(reqs), "--python", "3.11", "--index-url", shop.url,
                data_dir=tmp_path / "data")
    assert out.returncode == 0, out.stderr
    files = {p["name"]: [f["sha256"] for f in p["files"]] for p in json.loads(out.stdout)["packages"]}
    assert files == {"app": [app], "lib": [lib]}
    reqs.write_text(f"app==1.0 --hash=sha256:{app}\nlib==1.0 --hash=sha256:{'0' * 64}\n")
    line = _one_line_error(venvd("resolve", "-r", str(reqs), "--python", "3.11", "--index-url",
                                 shop.url, data_dir=tmp_path / "data"))
    assert f"{reqs}:2: no file of lib 1.0 on the indexes has one of the hashes" in line
    reqs.write_text(f"app==1.0 --hash=sha256:{app}\n")
    line = _one_line_error(venvd("resolve", "-r", str(reqs), "--python", "3.11", "--index-url",
                                 shop.url, data_dir=tmp_path / "data"))
    assert "every package installed needs a --hash pin, as pip requires; none for lib" in line


def test_create_from_an_environment_yml_finds_its_python(shop: LocalIndex, tmp_path: Path) -> None:
    import shutil

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if shutil.which(f"python{version}") is None:
        pytest.skip(f"no python{version} on PATH")
    yml = tmp_path / "environment.yml"
    yml.write_text(f"name: web\ndependencies:\n  - python={version}\n  - pip:\n    - app\n")
    dest = tmp_path / "env"
    out = venvd("create", str(dest), "-r", str(yml), "--index-url", shop.url,
                data_dir=tmp_path / "data", timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"venvd: created 'web' {dest}" in out.stderr
    check = subprocess.run([str(dest / "bin" / "python"), "-c",
                            "import sys, app, lib; print('%d.%d' % sys.version_info[:2])"],
                           capture_output=True, text=True)
    assert check.stdout.strip() == version, check.stderr


def test_gather_merges_files_of_several_kinds_and_names_the_line_of_no_index(tmp_path: Path) -> None:
    from venvd.cli._documents import gather_document
    from venvd.errors import InputError, InvalidDocument

    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "extra.txt").write_text("--pre\ntool\n")
    (tmp_path / "cons.txt").write_text("lib<2\n")
    doc = gather_document(("left",), (tmp_path / "pyproject.toml", tmp_path / "extra.txt"),
                          (tmp_path / "cons.txt",), groups=("test",))
    assert doc.requirements == ["left", "app", "right", "tool"]  # "left" once: the argument
    assert doc.constraints == ["lib<2"] and doc.pre and doc.label == "proj"
    with pytest.raises(InputError, match=r"select from a pyproject\.toml"):
        gather_document((), (tmp_path / "extra.txt",), (), extras=("cli",))
    (tmp_path / "offline.txt").write_text("app\n-f wheels\n--no-index\n")
    with pytest.raises(InvalidDocument, match=rf"{tmp_path / 'offline.txt'}:3: --no-index is not"):
        gather_document((), (tmp_path / "offline.txt",), ())
