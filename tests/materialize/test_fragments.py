"""Archives placed fragment by fragment: the client cache (links, modes, changed entries, bounds)
and manifests or fragments crafted to escape, overfill or corrupt the venv."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.builder.helpers import HttpFetcher, lock_for
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.builder import MANIFEST_NAME, BuildCache, build_environment
from venvd.builder._pack import member_frame
from venvd.errors import BuildError
from venvd.materialize import FileCache, materialize
from venvd.materialize._source import read_first_frame
from venvd.target import Target


def _artifact(tmp_path: Path, index: LocalIndex) -> Path:
    src = tmp_path / "src"
    paths = [
        make_wheel(src, "app", "1.0", requires_dist=["lib"], console_scripts={"app": "app:main"},
                   files={"app/__init__.py": "import lib\ndef main():\n    print(lib.X)\n",
                          "app/data.bin": os.urandom(4096)}),
        make_wheel(src, "lib", "1.0", files={"lib/__init__.py": "X = 'from lib'\n"}),
    ]
    for path in paths:
        index.add(path)
    lock = lock_for(index, paths, ["app"])
    artifact = build_environment(lock, Target.current(), cache=BuildCache(tmp_path / "bc"),
                                 fetch=HttpFetcher())
    return artifact.path


def _tampered(archive: Path, out: Path, change: Callable[[dict[str, Any]], None],
              body: Callable[[bytes], bytes] = lambda b: b) -> Path:
    """`archive` with its manifest changed by `change` (offsets count from the manifest frame's
    end, so they stay right) and the rest changed by `body`."""
    data = archive.read_bytes()
    frame, length, _ = read_first_frame(io.BytesIO(data).read, 1 << 25)
    size = int(frame[124:136].split(b"\0")[0].strip(), 8)  # the manifest member's size field
    manifest = json.loads(frame[512:512 + size])
    change(manifest)
    out.write_bytes(member_frame(MANIFEST_NAME, json.dumps(manifest).encode()) + body(data[length:]))
    return out


def _package(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in manifest["packages"] if p["name"] == name)


def test_a_warm_cache_links_and_copy_mode_copies(tmp_path: Path, index: LocalIndex) -> None:
    archive = _artifact(tmp_path, index)
    cache = FileCache(tmp_path / "cache")
    first = materialize(archive, tmp_path / "one", cache=cache)
    second = materialize(archive, tmp_path / "two", cache=cache)
    copied = materialize(archive, tmp_path / "three", cache=cache, link_mode="copy")
    site = first.manifest["layout"]["site_packages"]
    for result in (first, second, copied):
        out = subprocess.run([str(result.dest / "bin" / "app")], capture_output=True, text=True,
                             check=True)
        assert out.stdout == "from lib\n"
        assert (result.dest / "bin" / "app").stat().st_nlink == 1  # rewritten: never the cache's
    assert (tmp_path / "two" / site / "app" / "data.bin").stat().st_nlink >= 3
    assert (tmp_path / "three" / site / "app" / "data.bin").stat().st_nlink == 1
    entries = cache.entries()
    assert len(entries) == 2
    # The cache's copy of the script still has the placeholder interpreter line.
    entry = next(e for e in (cache.get(sha) for sha, _, _ in entries) if e and "bin/app" in e.files)
    assert Path(entry.source("bin/app")).read_bytes().startswith(b"#!/__venvd_python__")
    # Files lie side by side in the entry: no directory of the fragment's tree is made there.
    assert not [p for p in Path(entry.tree).iterdir() if not p.is_file()]


def test_a_changed_cache_entry_is_never_linked(tmp_path: Path, index: LocalIndex) -> None:
    archive = _artifact(tmp_path, index)
    cache = FileCache(tmp_path / "cache")
    first = materialize(archive, tmp_path / "one", cache=cache)
    data = first.dest / first.manifest["layout"]["site_packages"] / "app" / "data.bin"
    original = data.read_bytes()
    with data.open("r+b") as f:  # edited in place through the hard link
        f.write(b"edited!")
    second = materialize(archive, tmp_path / "two", cache=cache)
    again = second.dest / second.manifest["layout"]["site_packages"] / "app" / "data.bin"
    assert again.read_bytes() == original
    assert not os.path.samefile(again, data)


def test_prune_keeps_the_cache_within_its_bound_and_clean_empties_it(
        tmp_path: Path, index: LocalIndex) -> None:
    archive = _artifact(tmp_path, index)
    cache = FileCache(tmp_path / "cache")
    materialize(archive, tmp_path / "one", cache=cache)
    (sha_a, size_a, _), (sha_b, size_b, _) = cache.entries()
    os.utime(Path(cache.get(sha_a).tree).parent / "entry.json", (1, 1))  # type: ignore[union-attr]
    removed, freed = cache.prune(max_size=size_b)
    assert (removed, freed) == (1, size_a) and [e[0] for e in cache.entries()] == [sha_b]
    env = {**os.environ, "VENVD_CLIENT_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, "-m", "venvd", "cache", "dir"], capture_output=True,
                         text=True, env=env, check=True)
    assert run.stdout.strip() == str(tmp_path / "cache")
    run = subprocess.run([sys.executable, "-m", "venvd", "cache", "prune", "--max-size", "lots"],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 2 and "not a size" in run.stderr and "Traceback" not in run.stderr
    run = subprocess.run([sys.executable, "-m", "venvd", "cache", "clean"], capture_output=True,
                         text=True, env=env, check=True)
    assert "removed 1 entries" in run.stderr and cache.entries() == []


def _first_file(manifest: dict[str, Any], name: str) -> str:
    return str(_package(manifest, name)["files"][0])


def _add(path: str) -> Callable[[dict[str, Any]], None]:
    """List one more file for lib (and declare one more member, so that count still agrees)."""
    def change(manifest: dict[str, Any]) -> None:
        _package(manifest, "lib")["files"].append(path)
        manifest["members"] += 1
    return change


HOSTILE: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "listed traversal": (_add("../../evil.txt"), "contains '..'"),
    "listed dot name": (_add("lib/.."), "unsafe file name"),
    "listed absolute directory": (_add("/tmp/x/evil.txt"), "is absolute"),
    "more files than declared": (lambda m: _package(m, "lib")["files"].append("lib/more.py"),
                                 "more than"),
    "fragment digest": (lambda m: _package(m, "lib")["fragment"].update(sha256="0" * 64),
                        "does not match the sha256"),
    "member not listed": (lambda m: _package(m, "lib")["files"].pop(), "does not list"),
    "listed file missing": (_add("lib/ghost.py"), "lacks 1 listed file"),
    "more bytes than declared": (lambda m: _package(m, "app")["fragment"].update(expanded_size=10),
                                 "expands to more than the 10 bytes"),
    "the venv's interpreter": (_add("bin/python"), "would replace a file of the venv itself|lacks"),
    "through the interpreter link": (_add("bin/python/x"), "lacks 1 listed file|is a link out"),
    "past the end": (lambda m: _package(m, "lib")["fragment"].update(offset=10**9),
                     "past the end of the artifact"),
    "no sha256": (lambda m: _package(m, "lib")["fragment"].pop("sha256"), "no fragment sha256"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("cached", [True, False], ids=["cache", "no-cache"])
def test_hostile_manifests_and_fragments_are_refused(case: str, cached: bool, tmp_path: Path,
                                                     index: LocalIndex) -> None:
    change, reason = HOSTILE[case]
    archive = _tampered(_artifact(tmp_path, index), tmp_path / "bad.tar.zst", change)
    cache = FileCache(tmp_path / "cache") if cached else None
    dest = tmp_path / "venv"
    with pytest.raises(BuildError) as err:
        materialize(archive, dest, cache=cache, verify=False)
    assert err.value.step == "extract" and re.search(reason, err.value.message), err.value.message
    assert not dest.exists() and not (tmp_path.parent / "evil.txt").exists()
    if cache is not None:  # nothing unverified or incomplete became an entry
        shas = {p["fragment"].get("sha256") for p in _manifest_of(archive)}
        assert {e[0] for e in cache.entries()} <= shas


def _manifest_of(archive: Path) -> list[dict[str, Any]]:
    data = archive.read_bytes()
    frame, _, _ = read_first_frame(io.BytesIO(data).read, 1 << 25)
    size = int(frame[124:136].split(b"\0")[0].strip(), 8)
    return list(json.loads(frame[512:512 + size])["packages"])


def test_a_corrupted_fragment_is_refused_before_anything_of_it_is_written(
        tmp_path: Path, index: LocalIndex) -> None:
    def flip(body: bytes) -> bytes:
        return body[:40] + bytes([body[40] ^ 0xFF]) + body[41:]

    archive = _tampered(_artifact(tmp_path, index), tmp_path / "bad.tar.zst", lambda m: None, flip)
    cache = FileCache(tmp_path / "cache")
    with pytest.raises(BuildError, match="does not match the sha256"):
        materialize(archive, tmp_path / "venv", cache=cache)
    first = _manifest_of(archive)[0]["fragment"]["sha256"]
    assert first not in {e[0] for e in cache.entries()}
