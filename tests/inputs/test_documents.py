"""Reading input documents (venvd.inputs): what each kind gives, and errors naming file and line.

Pure parsing, no index: the end-to-end paths (CLI, API, real uv/pip locks) are in the other
modules of this folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from venvd.errors import InvalidDocument
from venvd.inputs import (
    check_python,
    detect_kind,
    parse_document,
    read_document,
    refuse_for_server,
    restrict_to_hashes,
)

SHA_A = "a" * 64
SHA_B = "b" * 64


# -- requirements files -----------------------------------------------------------------------
def test_a_requirements_file_with_options_nesting_and_variables(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.txt").write_text("lib>=1  # nested, relative to top.txt's folder\n")
    (tmp_path / "sub" / "cons.txt").write_text("shared<2\n")
    top = tmp_path / "top.txt"
    top.write_text(
        "# a comment\n"
        "--index-url ${INDEX}/simple/\n"
        "--extra-index-url=https://extra.example/simple/\n"
        "-f links\n"
        "--pre\n"
        "--only-binary :all:\n"
        "--no-binary=built\n"
        "--prefer-binary\n"
        "app[cli]>=1 ; python_version >= '3' \\\n"
        "    # continued\n"
        "-r sub/more.txt\n"
        "-csub/cons.txt\n")
    doc = read_document(top, environ={"INDEX": "http://127.0.0.1:1"})
    assert doc.kind == "requirements.txt"
    assert doc.requirements == ["app[cli]>=1 ; python_version >= '3'", "lib>=1"]
    assert doc.constraints == ["shared<2"]
    assert doc.index_url == "http://127.0.0.1:1/simple/"
    assert doc.extra_index_urls == ["https://extra.example/simple/"]
    assert doc.find_links == [str(tmp_path / "links")]
    assert doc.options() == {"prereleases": True, "only_binary": [":all:"], "no_binary": ["built"]}
    assert any("--prefer-binary ignored" in n for n in doc.notices)
    assert doc.origins["lib>=1"].file.endswith("more.txt") and doc.origins["lib>=1"].line == 1


def test_variables_are_expanded_only_when_an_environment_is_given() -> None:
    text = "--index-url ${INDEX}/simple/\napp\n"
    assert parse_document(text, environ={"INDEX": "http://x"}).index_url == "http://x/simple/"
    assert parse_document(text).index_url == "${INDEX}/simple/"  # a server expands nothing


@pytest.mark.parametrize(("line", "needle"), [
    ("-e ./project", "editable requirement"),
    ("--editable=git+https://example.org/x.git", "editable requirement"),
    ("./project", "local path or a bare URL"),
    ("dist/app-1.0-py3-none-any.whl", "local path or a bare URL"),
    ("https://example.org/app-1.0.tar.gz", "local path or a bare URL"),
    ("app @ https://example.org/app-1.0.tar.gz", "has no #sha256= hash"),
    (f"app @ file:///tmp/app-1.0.tar.gz#sha256={SHA_A}", "not an http(s) URL"),
    (f"app @ https://u:p@example.org/app-1.0.tar.gz#sha256={SHA_A}", "carries credentials"),
    ("app @ https://example.org/app-1.0.tar.gz#sha256=abc", "not #sha256=<64 hexadecimal"),
    (f"app @ https://example.org/app-1.0.tar.gz#md5={SHA_A}", "not #sha256=<64 hexadecimal"),
    (f"app @ https://example.org/app/#sha256={SHA_A}", "not a wheel or an sdist"),
    (f"app @ https://example.org/app-1.0.tar.gz#sha256={SHA_A} --hash=sha256:{'b' * 64}",
     "disagree"),
    ("app>=1 --hash=sha256:" + SHA_A, "not pinned with =="),
    ("app==1 --hash=sha512:" + "c" * 128, "sha256 only"),
    ("app==1 --hash=sha256:xyz", "64 hexadecimal"),
    ("app==1 --config-settings=x=y", "'--config-settings' is not supported"),
    ("--no-deps", "'--no-deps' is not supported"),
    ("app>>1", "not a valid requirement"),
    ("-r", "needs a file name"),
])
def test_what_a_server_cannot_take_names_the_line(line: str, needle: str) -> None:
    with pytest.raises(InvalidDocument) as raised:
        parse_document(f"# first\nlib\n{line}\n", kind="requirements.txt", file="reqs.txt")
    assert raised.value.message.startswith("reqs.txt:3: "), raised.value.message
    assert needle in raised.value.message
    assert raised.value.details == {"file": "reqs.txt", "line": 3, "kind": "requirements.txt"}


def test_a_hashed_direct_reference_is_a_requirement_in_canonical_form() -> None:
    text = (f"App[X] @ https://Files.Example.org/app-1.0.tar.gz#sha256={SHA_A.upper()}"
            ' ; python_version >= "3"\n'
            f"lib @ https://example.org/lib-2.0-py3-none-any.whl --hash=sha256:{SHA_A}\n")
    doc = parse_document(text, file="reqs.txt")
    assert doc.requirements == [
        f'App[X] @ https://files.example.org/app-1.0.tar.gz#sha256={SHA_A} ; python_version >= "3"',
        f"lib @ https://example.org/lib-2.0-py3-none-any.whl#sha256={SHA_A}",
    ]
    assert [where.line for _, where in doc.direct] == [1, 2]
    assert doc.hashes == {"lib": {SHA_A}}  # a --hash is pip's hash-checking mode, a fragment not
    # The server's own allow-list decides about the URL, not the document.
    refuse_for_server(parse_document(text.splitlines()[0], file="reqs.txt"))


def test_a_direct_reference_cannot_be_a_constraint(tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text(f"app @ https://e.org/app-1.0.tar.gz#sha256={SHA_A}\n")
    (tmp_path / "r.txt").write_text("app\n-c c.txt\n")
    with pytest.raises(InvalidDocument, match=r"c.txt:1: .*constraints file"):
        read_document(tmp_path / "r.txt")


def test_nested_files_loop_and_server_documents_cannot_name_files(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("app\n-r b.txt\n")
    (tmp_path / "b.txt").write_text("-r a.txt\n")
    with pytest.raises(InvalidDocument, match=r"b.txt:1: .*loop"):
        read_document(tmp_path / "a.txt")
    with pytest.raises(InvalidDocument, match=r"document sent to a server"):
        parse_document("app\n-r other.txt\n", file="requirements.txt")


def test_refuse_for_server_names_index_options_and_takes_hash_pins() -> None:
    with pytest.raises(InvalidDocument, match=r"reqs.txt:2: index options"):
        refuse_for_server(parse_document("app\n-i https://elsewhere/simple\n", file="reqs.txt"))
    # the server narrows the lock to the pinned files (tests/inputs/test_api_documents.py)
    refuse_for_server(parse_document(f"app==1.0 --hash=sha256:{SHA_A}\n", file="reqs.txt"))


def _lock(*packages: tuple[str, list[str]]) -> dict:
    return {"id": "x", "cached": True, "target": {}, "requirements": [], "constraints": [],
            "packages": [{"name": name, "version": "1.0", "files": [
                {"filename": f"{name}-{i}.whl", "url": "u", "sha256": sha} for i, sha in enumerate(shas)]}
                for name, shas in packages]}


def test_hash_checking_keeps_only_pinned_files_and_names_what_does_not_fit() -> None:
    doc = parse_document(f"app==1.0 --hash=sha256:{SHA_A}\nlib==1.0 \\\n  --hash=sha256:{SHA_B.upper()}\n",
                         file="reqs.txt")
    assert doc.hash_checking
    kept = restrict_to_hashes(_lock(("app", [SHA_A, "c" * 64]), ("lib", [SHA_B])), doc)
    assert "id" not in kept and "cached" not in kept
    assert [[f["sha256"] for f in p["files"]] for p in kept["packages"]] == [[SHA_A], [SHA_B]]
    with pytest.raises(InvalidDocument, match=r"every package installed needs a --hash pin.*extra"):
        restrict_to_hashes(_lock(("app", [SHA_A]), ("lib", [SHA_B]), ("extra", [SHA_A])), doc)
    with pytest.raises(InvalidDocument, match=r"reqs.txt:2: no file of lib 1.0"):
        restrict_to_hashes(_lock(("app", [SHA_A]), ("lib", ["d" * 64])), doc)
    assert parse_document("--require-hashes\napp==1\n").hash_checking


# -- conda environment.yml --------------------------------------------------------------------
ENVIRONMENT_YML = """\
name: web-app
channels:
  - conda-forge
  - defaults
dependencies:
  - conda-forge::python=3.12
  - pip
  - pip:
    - app>=1
    - -r requirements/base.txt
    - -c constraints.txt
"""


def test_an_environment_yml(tmp_path: Path) -> None:
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "base.txt").write_text("lib\n")
    (tmp_path / "constraints.txt").write_text("lib<2\n")
    path = tmp_path / "environment.yml"
    path.write_text(ENVIRONMENT_YML)
    doc = read_document(path)
    assert (doc.kind, doc.label, doc.python) == ("environment.yml", "web-app", "3.12")
    assert doc.python_origin is not None and doc.python_origin.line == 6
    assert doc.requirements == ["app>=1", "lib"]
    assert doc.constraints == ["lib<2"]
    assert doc.origins["app>=1"].line == 9
    assert [n for n in doc.notices if "'channels' ignored" in n] == [f"{path}:2: 'channels' ignored "
                                                                     "(venvd installs from Python "
                                                                     "package indexes, not conda "
                                                                     "channels)"]
    check_python(doc, "3.12.4")
    with pytest.raises(InvalidDocument, match=rf"{path}:6: asks for Python 3.12, but --python is "
                                              r"Python 3.11"):
        check_python(doc, "3.11", where="--python")


@pytest.mark.parametrize(("spec", "version"), [
    ("python=3.11", "3.11"), ("python==3.11.4", "3.11.4"), ("python 3.10", "3.10"),
    ("python=3.11.*", "3.11"), ("python=3.11.4=h955ad1f_0", "3.11.4"), ("python", None),
])
def test_python_specs(spec: str, version: str | None) -> None:
    doc = parse_document(f"dependencies:\n  - {spec}\n  - pip:\n    - app\n", kind="environment.yml")
    assert doc.python == version


def test_conda_packages_are_refused_or_left_out_with_a_warning() -> None:
    text = ("name: sci\ndependencies:\n  - python=3.11\n  - numpy=1.26\n  - pip\n"
            "  - conda-forge::libgdal\n  - pip:\n    - app\n")
    with pytest.raises(InvalidDocument) as raised:
        parse_document(text, file="environment.yml")
    message = raised.value.message
    assert message.startswith("environment.yml:4: conda packages other than python and pip")
    assert "numpy=1.26 (line 4), libgdal (line 6)" in message and "--skip-conda-packages" in message
    assert raised.value.details["packages"] == ["numpy=1.26", "libgdal"]
    doc = parse_document(text, file="environment.yml", skip_conda_packages=True)
    assert doc.requirements == ["app"]
    assert doc.warnings == ["environment.yml: conda packages left out (--skip-conda-packages): "
                            "numpy=1.26 (line 4), libgdal (line 6)"]


@pytest.mark.parametrize(("text", "needle"), [
    ("name: x\ndependencies:\n  - pip:\n    - app\n   - bad: [\n", "environment.yml:5: not valid YAML"),
    ("- just a list\n", "environment.yml:1: an environment.yml is a mapping"),
    ("name: x\n", "no 'dependencies' list"),
    ("dependencies:\n  - python>=3.10\n", "environment.yml:2: 'python>=3.10': venvd takes"),
    ("dependencies:\n  - pip:\n    - app>>1\n", "environment.yml:3: 'app>>1' is not a valid"),
    ("dependencies:\n  - pip:\n    - -e .\n", "environment.yml:3: editable requirement"),
    ("dependencies:\n  - r-base\n  - conda:\n    - x\n", "environment.yml:3: unknown dependency section"),
])
def test_a_broken_environment_yml_names_the_line(text: str, needle: str) -> None:
    with pytest.raises(InvalidDocument) as raised:
        parse_document(text, file="environment.yml")
    assert needle in raised.value.message


# -- pyproject.toml ---------------------------------------------------------------------------
PYPROJECT = """\
[project]
name = "My_Project"
version = "1.0"
requires-python = ">=3.10"
dependencies = ["app>=1"]

[project.optional-dependencies]
cli = ["tool"]
all = ["my-project[cli]", "shared<2"]

[dependency-groups]
test = ["left", {include-group = "lint"}]
lint = ["right"]
loop-a = [{include-group = "loop-b"}]
loop-b = [{include-group = "loop-a"}]
"""


def test_pyproject_dependencies_extras_and_groups() -> None:
    assert parse_document(PYPROJECT, file="pyproject.toml").requirements == ["app>=1"]
    doc = parse_document(PYPROJECT, file="pyproject.toml", extras=["all"], groups=["test"])
    assert doc.requirements == ["app>=1", "tool", "shared<2", "left", "right"]
    assert doc.label == "My_Project" and doc.requires_python == ">=3.10"
    assert parse_document(PYPROJECT, file="pyproject.toml", all_extras=True).requirements == [
        "app>=1", "tool", "shared<2"]
    check_python(doc, "3.11.2")
    with pytest.raises(InvalidDocument, match=r"requires-python '>=3.10' excludes the target "
                                              r"\(Python 3.9.1\)"):
        check_python(doc, "3.9.1")


@pytest.mark.parametrize(("text", "options", "needle"), [
    (PYPROJECT, {"extras": ["docs"]}, "no extra 'docs' in [project.optional-dependencies] "
                                      "(it has: all, cli)"),
    (PYPROJECT, {"groups": ["docs"]}, "no dependency group 'docs' (it has: lint, loop-a, loop-b, test)"),
    (PYPROJECT, {"groups": ["loop-a"]}, "[dependency-groups] 'loop-a': "),
    ("[project]\nname = 'x'\ndependencies = [\n  'ok',\n  'bad>>1',\n]\n", {},
     "pyproject.toml:5: dependencies: 'bad>>1' is not a valid requirement"),
    ("[project]\nname = 'x'\ndynamic = ['dependencies']\n", {}, "pyproject.toml:3: [project] "
                                                               "dependencies are dynamic"),
    ("[project]\nname = 'x'\ndependencies = ['a'\n", {}, "pyproject.toml:3: not valid TOML"),
    ("[tool.other]\nx = 1\n", {}, "neither a [project] table nor [dependency-groups]"),
    ("[project]\nname='x'\ndependencies=['x @ https://e.org/x.whl']\n", {},
     "pyproject.toml:3: dependencies: direct reference 'x @ https://e.org/x.whl': its URL has no #sha256="),
])
def test_a_broken_pyproject_names_what_is_wrong(text: str, options: dict, needle: str) -> None:
    with pytest.raises(InvalidDocument) as raised:
        parse_document(text, kind="pyproject.toml", file="pyproject.toml", **options)
    assert needle in raised.value.message, raised.value.message


def test_extras_fit_only_documents_that_have_them() -> None:
    with pytest.raises(InvalidDocument, match=r"not to a requirements\.txt"):
        parse_document("app\n", kind="requirements.txt", extras=["x"])


# -- kinds ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "text", "kind"), [
    ("environment.yml", "", "environment.yml"),
    ("env.yaml", "", "environment.yml"),
    ("pyproject.toml", "", "pyproject.toml"),
    ("pylock.toml", "", "pylock.toml"),
    ("pylock.dev.toml", "", "pylock.toml"),
    ("deps.toml", "[dependency-groups]\ndev = []\n", "pyproject.toml"),
    ("lock.toml", 'lock-version = "1.0"\n', "pylock.toml"),
    ("requirements.txt", "app\n", "requirements.txt"),
    ("deps", "name: x\ndependencies:\n  - pip\n", "environment.yml"),
    ("deps.in", "app>=1\n-r other.txt\n", "requirements.txt"),
])
def test_the_kind_is_found_by_name_then_content(name: str, text: str, kind: str) -> None:
    assert detect_kind(name, text) == kind


def test_an_unknown_toml_asks_for_the_file_type() -> None:
    with pytest.raises(InvalidDocument, match="give --file-type"):
        detect_kind("other.toml", "[tool.x]\n")


# -- pylock.toml ------------------------------------------------------------------------------
PYLOCK = f"""\
lock-version = "1.0"
created-by = "hand"
requires-python = ">=3.11"
extras = ["cli"]
dependency-groups = ["test"]
default-groups = []

[[packages]]
name = "app"
version = "1.0"
dependencies = [{{name = "lib"}}]
wheels = [{{url = "https://files.example/app-1.0-py3-none-any.whl", hashes = {{sha256 = "{SHA_A}"}}}}]

[[packages]]
name = "lib"
version = "1.0"
sdist = {{url = "https://files.example/lib-1.0.tar.gz", hashes = {{sha256 = "{SHA_B}"}}}}

[[packages]]
name = "native"
version = "1.0"
marker = "'cli' in extras"

[[packages.wheels]]
url = "https://files.example/native-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"
hashes = {{sha256 = "{SHA_A}"}}

[[packages.wheels]]
url = "https://files.example/native-1.0-cp311-cp311-win_amd64.whl"
hashes = {{sha256 = "{SHA_B}"}}

[[packages]]
name = "tool"
version = "1.0"
marker = "'test' in dependency_groups"
wheels = [{{url = "https://files.example/tool-1.0-py3-none-any.whl", hashes = {{md5 = "00"}}}}]
"""


def test_a_pylock_is_selected_for_the_target_extras_and_groups() -> None:
    from venvd.inputs import pylock_to_lock
    from venvd.target import target_from_request

    doc = parse_document(PYLOCK, file="pylock.toml")
    linux = target_from_request({"python": "3.11", "platform": "manylinux_2_28_x86_64"})
    windows = target_from_request({"python": "3.11", "platform": "win_amd64"})
    plain = pylock_to_lock(doc, linux, text=PYLOCK)
    assert [(p["name"], [f["filename"] for f in p["files"]]) for p in plain["packages"]] == [
        ("app", ["app-1.0-py3-none-any.whl"]), ("lib", ["lib-1.0.tar.gz"])]
    assert plain["requirements"] == ["app"]  # what nothing in the lock depends on
    cli = pylock_to_lock(doc, windows, extras=["cli"], text=PYLOCK)
    native = next(p for p in cli["packages"] if p["name"] == "native")
    assert [f["filename"] for f in native["files"]] == ["native-1.0-cp311-cp311-win_amd64.whl"]
    assert {p["name"] for p in pylock_to_lock(doc, linux, all_extras=True, text=PYLOCK)["packages"]} \
        == {"app", "lib", "native"}
    with pytest.raises(InvalidDocument, match=r"pylock.toml:33: package tool: tool-1.0-py3-none-any"
                                              r".whl has no sha256 hash"):
        pylock_to_lock(doc, linux, groups=["test"], text=PYLOCK)
    with pytest.raises(InvalidDocument, match="Undeclared extras: docs"):
        pylock_to_lock(doc, linux, extras=["docs"], text=PYLOCK)


def test_pyproject_direct_references_need_a_hash_in_groups_too() -> None:
    good = f"x @ https://e.org/x-1.0-py3-none-any.whl#sha256={SHA_A}"
    text = f"[dependency-groups]\ntest = [\n  'ok',\n  '{good}',\n]\nbad = ['x @ https://e.org/x-1.0.tar.gz']\n"
    doc = parse_document(text, kind="pyproject.toml", groups=["test"])
    assert doc.requirements == ["ok", good] and [w.line for _, w in doc.direct] == [4]
    with pytest.raises(InvalidDocument, match=r"pyproject.toml:6: dependency-groups: .*no #sha256="):
        parse_document(text, kind="pyproject.toml", file="pyproject.toml", groups=["bad"])


def test_environment_yml_pip_list_takes_hashed_direct_references() -> None:
    good = f"x @ https://e.org/x-1.0-py3-none-any.whl#sha256={SHA_A}"
    text = f"name: e\ndependencies:\n  - python=3.11\n  - pip:\n    - ok\n    - {good}\n"
    doc = parse_document(text, file="environment.yml")
    assert doc.requirements == ["ok", good]
    assert [(w.file, w.line) for _, w in doc.direct] == [("environment.yml", 6)]
    with pytest.raises(InvalidDocument, match=r"environment.yml:6: direct reference .*no #sha256="):
        parse_document(text.replace(f"#sha256={SHA_A}", ""), file="environment.yml")
