"""build_environment against a real local index: layouts, manifest, caches, determinism, failures."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path

import pytest
from packaging.tags import sys_tags

from tests.builder.helpers import HttpFetcher, lock_for, read_members, windows_target
from tests.support.dists import make_sdist, make_wheel
from tests.support.index_server import LocalIndex
from venvd.builder import (
    MANIFEST_NAME,
    PLACEHOLDER_SHEBANG,
    Artifact,
    BuildCache,
    BuildEvent,
    BuildOptions,
    build_environment,
    environment_key,
)
from venvd.errors import BuildError, InvalidLock, NoCompatibleDistribution, UpstreamError
from venvd.lock import Lock, LockedFile, LockedPackage
from venvd.target import Target

SP = f"lib/python{Target.current().python_version}/site-packages"
HOST_TAG = next(iter(sys_tags()))


def _hello(directory: Path) -> Path:
    return make_wheel(directory, "hello-pkg", "1.0", requires_dist=["dep-pkg>=1"],
                      files={"hello_pkg/__init__.py": "def main():\n    print('hi')\n"},
                      console_scripts={"hello": "hello_pkg:main"},
                      data={"data/share/hello/notes.txt": "notes",
                            "scripts/raw-tool": "#!python\nprint('raw')\n",
                            "headers/hello.h": "int hello;\n"})


def _serve(index: LocalIndex, *paths: Path) -> list[Path]:
    for path in paths:
        index.add(path)
    return list(paths)


def test_pure_wheels_install_into_the_posix_layout(tmp_path: Path, index: LocalIndex,
                                                   fetcher: HttpFetcher,
                                                   cache: BuildCache) -> None:
    files = _serve(index, _hello(tmp_path / "d"), make_wheel(tmp_path / "d", "dep-pkg", "1.2"))
    lock = lock_for(index, files, ["hello-pkg"])
    events: list[BuildEvent] = []
    artifact = build_environment(lock, Target.current(), cache=cache, fetch=fetcher,
                                 progress=events.append, request={"requirements": ["hello-pkg"]})

    assert artifact.key == environment_key(lock, Target.current(), BuildOptions())
    assert artifact.path == cache.artifact_path(artifact.key)
    assert artifact.sha256 == hashlib.sha256(artifact.path.read_bytes()).hexdigest()
    assert artifact.size == artifact.path.stat().st_size
    members = read_members(artifact.path)
    names = list(members)
    assert names[0] == MANIFEST_NAME
    assert json.loads(members[MANIFEST_NAME][1]) == artifact.manifest
    assert {"bin/hello", "bin/raw-tool", "share/hello/notes.txt",
            f"include/site/python{Target.current().python_version}/hello-pkg/hello.h",
            f"{SP}/hello_pkg/__init__.py", f"{SP}/hello_pkg-1.0.dist-info/RECORD",
            f"{SP}/dep_pkg/__init__.py"} <= set(names)
    for info, _data in members.values():  # normalized owners, times and modes; files only
        assert info.isfile() and info.uid == 0 and info.gid == 0 and info.uname == ""
        assert info.mtime == 315532800 and info.mode in (0o644, 0o755)
    assert members["bin/hello"][0].mode == 0o755
    assert members["bin/raw-tool"][0].mode == 0o755
    assert members["bin/hello"][1].startswith(PLACEHOLDER_SHEBANG + b"\n")
    assert members["bin/raw-tool"][1] == PLACEHOLDER_SHEBANG + b"\nprint('raw')\n"
    assert members[f"{SP}/hello_pkg-1.0.dist-info/INSTALLER"][1] == b"venvd\n"

    # RECORD: relative to site-packages, every row's hash and size right.
    record = members[f"{SP}/hello_pkg-1.0.dist-info/RECORD"][1].decode()
    rows = list(csv.reader(io.StringIO(record)))
    assert [r[0] for r in rows if r[0].endswith("/hello")] == ["../../../bin/hello"]
    for path, digest, size in rows:
        full = _normalize(f"{SP}/{path}")
        if path.endswith("RECORD"):
            assert digest == size == ""
            continue
        data = members[full][1]
        expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert digest == f"sha256={expected}" and int(size) == len(data)

    manifest = artifact.manifest
    assert manifest["format"] == "venvd-environment/1"
    assert manifest["request"] == {"requirements": ["hello-pkg"]}
    assert manifest["lock"] == lock.to_json() and manifest["target"] == Target.current().to_json()
    assert manifest["layout"]["site_packages"] == SP and manifest["layout"]["kind"] == "posix"
    assert manifest["scripts"] == ["bin/hello", "bin/raw-tool"]
    assert [p["name"] for p in manifest["packages"]] == ["dep-pkg", "hello-pkg"]
    hello = manifest["packages"][1]
    assert hello["wheel"] == "hello_pkg-1.0-py3-none-any.whl" and not hello["built_from_sdist"]
    assert set(hello["files"]) == {n for n in names if "hello" in n or n == "bin/raw-tool"}

    steps = {(e.step, e.done, e.total) for e in events}
    assert {("fetch", 2, 2), ("install", 2, 2), ("pack", 2, 2)} <= steps
    assert not any(e.step == "build" for e in events)

    # A second request for the same key is the cached artifact: no fetch, same bytes.
    again = build_environment(lock, Target.current(), cache=cache, fetch=HttpFetcher(["*"]))
    assert again == artifact


def _normalize(path: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def test_the_best_wheel_tag_wins(tmp_path: Path, index: LocalIndex, fetcher: HttpFetcher,
                                 cache: BuildCache) -> None:
    universal = make_wheel(tmp_path / "d", "fast", "1.0", files={"fast/__init__.py": "KIND = 'py'\n"})
    compiled = make_wheel(tmp_path / "d", "fast", "1.0", tag=str(HOST_TAG),
                          files={"fast/__init__.py": "KIND = 'compiled'\n"})
    lock = lock_for(index, _serve(index, universal, compiled))
    artifact = build_environment(lock, Target.current(), cache=cache, fetch=fetcher)
    assert artifact.manifest["packages"][0]["wheel"] == compiled.name
    assert read_members(artifact.path)[f"{SP}/fast/__init__.py"][1] == b"KIND = 'compiled'\n"
    assert fetcher.calls == [index.file_url(compiled.name)]


def test_sdist_only_pin_is_built_in_the_sandbox_and_cached(tmp_path: Path, index: LocalIndex,
                                                          fetcher: HttpFetcher,
                                                          cache: BuildCache) -> None:
    sdist = make_sdist(tmp_path / "d", "from-source", "2.0",
                       files={"from_source/__init__.py": "import os\nHOME = os.environ['HOME']\n"})
    lock = lock_for(index, _serve(index, sdist))
    events: list[BuildEvent] = []
    artifact = build_environment(lock, Target.current(), cache=cache, fetch=fetcher,
                                 progress=events.append)
    package = artifact.manifest["packages"][0]
    assert package["built_from_sdist"] and package["wheel"] == "from_source-2.0-py3-none-any.whl"
    assert f"{SP}/from_source/__init__.py" in read_members(artifact.path)
    assert ("build", 1, 1) in {(e.step, e.done, e.total) for e in events}
    built = list(cache.built.glob(f"{index.files[sdist.name].sha256}/*/*.whl"))
    assert [p.name for p in built] == ["from_source-2.0-py3-none-any.whl"]

    # Another environment with the same sdist reuses the built wheel's fragment: no download.
    lock2 = lock_for(index, [sdist], ["from-source>=2"])
    events.clear()
    build_environment(lock2, Target.current(), cache=cache, fetch=HttpFetcher(["*"]),
                      progress=events.append)
    assert {e.step for e in events} == {"pack"}


def test_sdist_for_a_foreign_target_builds_when_pure(tmp_path: Path, index: LocalIndex,
                                                    fetcher: HttpFetcher,
                                                    cache: BuildCache) -> None:
    lock = lock_for(index, _serve(index, make_sdist(tmp_path / "d", "puresrc", "1.0")),
                    target=windows_target())
    artifact = build_environment(lock, windows_target(), cache=cache, fetch=fetcher)
    assert "Lib/site-packages/puresrc/__init__.py" in read_members(artifact.path)


def test_compiled_sdist_for_a_foreign_target_is_a_clear_error(tmp_path: Path, index: LocalIndex,
                                                             fetcher: HttpFetcher,
                                                             cache: BuildCache) -> None:
    sdist = make_sdist(tmp_path / "d", "native-ext", "1.0", platform_specific=True)
    wheel = make_wheel(tmp_path / "d", "other", "1.0")
    lock = lock_for(index, _serve(index, sdist, wheel), target=windows_target())
    with pytest.raises(NoCompatibleDistribution) as err:
        build_environment(lock, windows_target(), cache=cache, fetch=fetcher)
    assert err.value.package == "native-ext"
    assert "server's own platform" in err.value.message and "win_amd64" in err.value.message
    assert not list(cache.environments.glob("*"))

    # The same sdist for the server's own platform builds fine.
    lock_host = lock_for(index, [sdist])
    artifact = build_environment(lock_host, Target.current(), cache=cache, fetch=fetcher)
    assert artifact.manifest["packages"][0]["wheel"].endswith(f"-{HOST_TAG.platform}.whl")


def test_no_build_refuses_sdist_only_pins(tmp_path: Path, index: LocalIndex,
                                          fetcher: HttpFetcher, cache: BuildCache) -> None:
    lock = lock_for(index, _serve(index, make_sdist(tmp_path / "d", "srconly", "1.0")))
    with pytest.raises(NoCompatibleDistribution) as err:
        build_environment(lock, Target.current(), cache=cache, fetch=fetcher,
                          options=BuildOptions(no_build=True))
    assert err.value.package == "srconly" and "--no-build" in err.value.message
    assert fetcher.calls == []


def test_failing_sdist_build_reports_package_step_and_log(tmp_path: Path, index: LocalIndex,
                                                         fetcher: HttpFetcher,
                                                         cache: BuildCache) -> None:
    lock = lock_for(index, _serve(index, make_sdist(tmp_path / "d", "broken", "1.0",
                                                    fail="missing compiler xyz")))
    with pytest.raises(BuildError) as err:
        build_environment(lock, Target.current(), cache=cache, fetch=fetcher)
    assert err.value.package == "broken" and err.value.step == "build wheel"
    assert "build_wheel" in err.value.message
    assert "missing compiler xyz" in (err.value.log_tail or "")
    assert len((err.value.log_tail or "").splitlines()) <= 40


def test_windows_target_layout_built_on_linux(tmp_path: Path, index: LocalIndex,
                                              fetcher: HttpFetcher, cache: BuildCache) -> None:
    gui = make_wheel(tmp_path / "d", "gui-app", "1.0",
                     files={"gui_app/__init__.py": "def main():\n    pass\n"},
                     extra_members={"gui_app-1.0.dist-info/entry_points.txt":
                                    "[gui_scripts]\ngui-app = gui_app:main\n"})
    target = windows_target()
    files = _serve(index, _hello(tmp_path / "d"), make_wheel(tmp_path / "d", "dep-pkg", "1.2"), gui)
    lock = lock_for(index, files, target=target)
    artifact = build_environment(lock, target, cache=cache, fetch=fetcher)
    members = read_members(artifact.path)
    assert "Lib/site-packages/hello_pkg/__init__.py" in members
    assert "Include/site/python3.11/hello-pkg/hello.h" in members
    exe = members["Scripts/hello.exe"][1]
    assert exe[:2] == b"MZ"  # a real Windows launcher
    assert PLACEHOLDER_SHEBANG + b"\n" in exe
    assert zipfile.ZipFile(io.BytesIO(exe)).read("__main__.py").startswith(b"# -*- coding")
    assert b"#!/__venvd_pythonw__\n" in members["Scripts/gui-app.exe"][1]
    record = members["Lib/site-packages/hello_pkg-1.0.dist-info/RECORD"][1].decode()
    assert "../../Scripts/hello.exe," in record and "\\" not in record
    assert artifact.manifest["layout"]["kind"] == "windows"
    assert artifact.manifest["layout"]["launcher"] == "win-amd64"
    assert "Scripts/hello.exe" in artifact.manifest["scripts"]
    assert not any(name.startswith(("bin/", "lib/")) for name in members)


def test_two_cold_builds_give_identical_bytes(tmp_path: Path, index: LocalIndex,
                                              fetcher: HttpFetcher) -> None:
    files = _serve(index, _hello(tmp_path / "d"), make_wheel(tmp_path / "d", "dep-pkg", "1.2"),
                   make_sdist(tmp_path / "d", "from-source", "2.0"))
    lock = lock_for(index, files)
    first = build_environment(lock, Target.current(), cache=BuildCache(tmp_path / "c1"),
                              fetch=fetcher)
    second = build_environment(lock, Target.current(), cache=BuildCache(tmp_path / "c2"),
                               fetch=fetcher, max_workers=1)
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()


def test_warm_build_only_concatenates_cached_fragments(tmp_path: Path, index: LocalIndex,
                                                       fetcher: HttpFetcher,
                                                       cache: BuildCache) -> None:
    files = _serve(index, _hello(tmp_path / "d"), make_wheel(tmp_path / "d", "dep-pkg", "1.2"))
    first = build_environment(lock_for(index, files, ["hello-pkg"]), Target.current(),
                              cache=cache, fetch=fetcher)
    fragments = sorted(cache.fragments.rglob("*.tar.zst"))
    assert len(fragments) == 2
    # Inodes, not mtimes: a cache hit touches the mtime (its last use, for GC); a rewrite is a
    # rename onto the name, a new inode.
    stamps = [p.stat().st_ino for p in fragments]
    # No wheel left to install from, no index to fetch from: only the fragments can serve.
    shutil.rmtree(cache.wheels)
    index.stop()
    events: list[BuildEvent] = []
    other_lock = _relock(first.manifest["lock"], requirements=["hello-pkg", "dep-pkg"])
    second = build_environment(other_lock, Target.current(), cache=cache,
                               fetch=HttpFetcher(["*"]), progress=events.append)
    assert second.key != first.key
    assert {e.step for e in events} == {"pack"}
    assert [p.stat().st_ino for p in sorted(cache.fragments.rglob("*.tar.zst"))] == stamps
    first_files = {n: d for n, (_i, d) in read_members(first.path).items() if n != MANIFEST_NAME}
    second_files = {n: d for n, (_i, d) in read_members(second.path).items() if n != MANIFEST_NAME}
    assert first_files == second_files


def _relock(lock_json: dict[str, object], requirements: list[str]) -> Lock:
    """The same pins under other requirements: another lock, another environment key."""
    body = dict(lock_json)
    body.pop("id")
    body["requirements"] = requirements
    return Lock.from_json(body)


def test_interrupted_build_leaves_no_artifact_and_no_temp_files(
        tmp_path: Path, index: LocalIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    system_tmp = tmp_path / "systmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    files = _serve(index, *(make_wheel(tmp_path / "d", f"pkg{i}", "1.0") for i in range(6)),
                   make_sdist(tmp_path / "d", "from-source", "2.0"))
    lock = lock_for(index, files)
    cache = BuildCache(tmp_path / "cache")
    failing = HttpFetcher(fail_on=["pkg3-1.0-py3-none-any.whl"])
    with pytest.raises(UpstreamError, match="injected failure"):
        build_environment(lock, Target.current(), cache=cache, fetch=failing, max_workers=2)
    assert not cache.environments.exists() or not list(cache.environments.iterdir())
    leftovers = [p for p in cache.root.rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []
    assert list(system_tmp.iterdir()) == []
    # What did complete is whole and reusable: the retry fetches only what is missing.
    retry = HttpFetcher()
    artifact = build_environment(lock, Target.current(), cache=cache, fetch=retry)
    assert index.file_url("pkg3-1.0-py3-none-any.whl") in retry.calls
    assert len(retry.calls) < len(files)
    assert artifact.path.is_file()


def test_concurrent_identical_builds_publish_one_artifact(tmp_path: Path, index: LocalIndex,
                                                         cache: BuildCache) -> None:
    files = _serve(index, *(make_wheel(tmp_path / "d", f"pkg{i}", "1.0") for i in range(3)))
    lock = lock_for(index, files)
    results: list[Artifact] = []

    def run() -> None:
        results.append(build_environment(lock, Target.current(), cache=cache,
                                         fetch=HttpFetcher()))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3 and len({r.sha256 for r in results}) == 1
    # One recipe and no concatenated copy (nor a temp name) is left: the parts are the artifact.
    assert [p.name for p in cache.environments.iterdir()] == [f"{results[0].key}.json"]
    assert hashlib.sha256(results[0].path.read_bytes()).hexdigest() == results[0].sha256


@pytest.mark.parametrize(("name", "filename", "sha256"), [
    ("evil", "../../../evil-1.0.tar.gz", "a" * 64),
    ("evil", "sub/evil-1.0-py3-none-any.whl", "a" * 64),
    ("../evil", "evil-1.0-py3-none-any.whl", "a" * 64),
    ("evil", "evil-1.0-py3-none-any.whl", "../../" + "a" * 58),
    ("evil", "evil-1.0-py3-none-any.whl", ""),
])
def test_lock_from_a_client_cannot_name_paths(tmp_path: Path, name: str, filename: str,
                                              sha256: str) -> None:
    lock = Lock(packages=(LockedPackage(name=name, version="1.0", files=(
        LockedFile(filename=filename, url="http://127.0.0.1:9/x", sha256=sha256),)),),
        target=Target.current().to_json())
    fetcher = HttpFetcher()
    with pytest.raises(InvalidLock):
        build_environment(lock, Target.current(), cache=BuildCache(tmp_path / "cache"),
                          fetch=fetcher)
    assert fetcher.calls == [] and not (tmp_path / "cache").exists()
