"""The parallel extraction: directories made up front from the manifest, files written by worker
threads. Same bytes, modes and safety as one thread; failures in a worker leave DEST clean."""

from __future__ import annotations

import io
import json
import os
import random
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import zstandard

from venvd.errors import BuildError
from venvd.materialize import materialize
from venvd.materialize._extract import (
    UnsafeArchive,
    extract_rest,
    manifest_files,
    open_archive,
    read_manifest,
)
from venvd.materialize._writer import FileWriter
from venvd.target import Target

VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"
SITE = f"lib/python{VERSION}/site-packages"
Member = tuple[str, bytes, int]  # name, data, mode


def _manifest(files: list[str]) -> dict[str, Any]:
    return {
        "format": "venvd-environment/1",
        "target": Target.current().to_json(),
        "lock": {"requirements": [], "packages": []},
        "layout": {"kind": "posix", "site_packages": SITE, "scripts": "bin",
                   "placeholder": "/__venvd_python__"},
        "packages": [{"name": "pkg", "version": "1.0", "files": files}],
        "scripts": [],
    }


def _archive(path: Path, members: list[Member | tarfile.TarInfo], listed: list[str]) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        body = json.dumps(_manifest(listed)).encode()
        info = tarfile.TarInfo("venvd-manifest.json")
        info.size = len(body)
        tf.addfile(info, io.BytesIO(body))
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
                continue
            name, data, mode = member
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tf.addfile(info, io.BytesIO(data))
    path.write_bytes(zstandard.ZstdCompressor(level=1).compress(buf.getvalue()))
    return path


def _extract(archive: Path, dest: Path, workers: int | None) -> list[str]:
    with open_archive(archive) as tf:
        manifest = read_manifest(tf)
        return extract_rest(tf, dest, protected=frozenset(), workers=workers,
                            expected_files=manifest_files(manifest))


def _tree(dest: Path) -> dict[str, tuple[bytes, int]]:
    found = {}
    for root, _dirs, files in os.walk(dest):
        for name in files:
            path = Path(root, name)
            found[path.relative_to(dest).as_posix()] = (path.read_bytes(),
                                                        path.stat().st_mode & 0o777)
    return found


def _many_members() -> list[Member]:
    """A package-like tree: nested directories, empty, small, batch-sized and streamed (larger
    than the queue limit) files, executables, and paths written twice (the later bytes win)."""
    rng = random.Random(7)
    members: list[Member] = []
    for i in range(400):
        depth = rng.randint(1, 5)
        dirs = "/".join(f"d{rng.randint(0, 6)}" for _ in range(depth))
        size = rng.choice([0, 1, 100, 5000, 70_000, 600_000])
        mode = 0o755 if i % 9 == 0 else 0o644
        members.append((f"{SITE}/pkg/{dirs}/f{i}.py", rng.randbytes(size), mode))
    members.append((f"{SITE}/pkg/big.so", rng.randbytes(9 * 1024 * 1024), 0o755))
    for name, _data, _mode in members[10:30:4]:
        members.append((name, b"second version of " + name.encode(), 0o644))
    members.append((f"{SITE}/pkg/big.so", b"small now", 0o644))  # queued after a streamed one
    members.append((f"{SITE}/pkg/d1/f0-again.py", b"x", 0o644))
    return members


@pytest.mark.parametrize("workers", [None, 4, 1, 0])
def test_parallel_writes_equal_the_archive(tmp_path: Path, workers: int | None) -> None:
    members = _many_members()
    listed = [name for name, _data, _mode in members[:-1]]  # the last one is not in the manifest
    archive = _archive(tmp_path / "a.tar.zst", members, listed)
    dest = tmp_path / "venv"
    dest.mkdir()
    written = _extract(archive, dest, workers)
    umask = os.umask(0)
    os.umask(umask)
    expected = {name: (data, (0o755 if mode & 0o111 else 0o644) & ~umask)
                for name, data, mode in members}  # dict order: the later member wins
    assert written == [name for name, _data, _mode in members]
    assert _tree(dest) == expected


def test_members_outside_the_manifest_are_checked_as_they_come(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "venv"
    (dest / "lib").mkdir(parents=True)
    os.symlink("lib", dest / "lib64")  # the venv skeleton's own link, inside DEST
    os.symlink(outside, dest / "escape")
    listed = ["lib/pkg/a.py"]
    archive = _archive(tmp_path / "ok.tar.zst", [
        ("lib/pkg/a.py", b"a", 0o644),
        ("share/not/listed.txt", b"b", 0o644),  # directories made when the member comes
        ("lib64/via-link.txt", b"c", 0o644),
    ], listed)
    assert _extract(archive, dest, None) == ["lib/pkg/a.py", "share/not/listed.txt",
                                             "lib64/via-link.txt"]
    assert (dest / "share" / "not" / "listed.txt").read_bytes() == b"b"
    assert (dest / "lib" / "via-link.txt").read_bytes() == b"c"

    evil = _archive(tmp_path / "evil.tar.zst", [("lib/pkg/a.py", b"a", 0o644),
                                                 ("escape/sub/evil.txt", b"x", 0o644)], listed)
    with pytest.raises(UnsafeArchive, match="link out of the environment"):
        _extract(evil, dest, None)
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(("listed", "message"), [
    (["../evil/x.py"], "manifest lists a file whose path contains '..'"),
    (["/tmp/venvd-evil-manifest/x.py"], "manifest lists a file whose path is absolute"),
    ([42], "not a path"),
    (["bin/python/x.py"], "link out of the environment"),  # the venv's python links outside
    (["pyvenv.cfg/x.py"], "a file where a directory is needed"),
    (["venvd.lock.json/x.py"], "venv itself"),  # the lock is written last: no directory there
])
def test_manifest_paths_are_checked_before_directories_are_made(tmp_path: Path, listed: list[Any],
                                                                message: str) -> None:
    archive = _archive(tmp_path / "a.tar.zst", [("ok.txt", b"fine", 0o644)], listed)
    dest = tmp_path / "work" / "venv"
    with pytest.raises(BuildError) as err:
        materialize(archive, dest)
    assert err.value.step == "extract" and message in err.value.message
    assert not dest.exists() and list((tmp_path / "work").iterdir()) == []
    assert not (tmp_path / "work" / "evil").exists()
    assert not Path("/tmp/venvd-evil-manifest").exists()


def test_the_lock_file_cannot_come_from_the_archive(tmp_path: Path) -> None:
    for members in ([("venvd.lock.json", b"{}", 0o644)], [("venvd.lock.json/x", b"{}", 0o644)]):
        archive = _archive(tmp_path / "a.tar.zst", members, [])
        with pytest.raises(BuildError, match="venv itself"):
            materialize(archive, tmp_path / "venv")
        assert not (tmp_path / "venv").exists()


def test_a_write_failing_in_a_worker_leaves_dest_clean(tmp_path: Path) -> None:
    # The manifest makes pkg/sub a directory up front; a later member writes a file there.
    members: list[Member] = [(f"{SITE}/pkg/m{i}.py", b"x" * 100, 0o644) for i in range(300)]
    members.insert(150, (f"{SITE}/pkg/sub", b"not a directory", 0o644))
    listed = [name for name, _data, _mode in members if not name.endswith("/sub")]
    listed.append(f"{SITE}/pkg/sub/inner.py")
    archive = _archive(tmp_path / "a.tar.zst", members, listed)
    dest = tmp_path / "work" / "venv"
    with pytest.raises(BuildError) as err:
        materialize(archive, dest)
    assert err.value.step == "extract"
    assert "pkg/sub' cannot be written: Is a directory" in err.value.message
    assert not dest.exists() and list((tmp_path / "work").iterdir()) == []

    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(BuildError, match="cannot be written"):
        materialize(archive, existing)
    assert list(existing.iterdir()) == []


def test_file_writer_raises_the_first_worker_failure(tmp_path: Path) -> None:
    (tmp_path / "a-directory").mkdir()
    with ThreadPoolExecutor(2) as pool:
        writer = FileWriter(pool, max_pending=1, batch_files=1)
        writer.write("ok", str(tmp_path / "ok"), b"ok", 0o644)
        writer.write("bad", str(tmp_path / "a-directory"), b"x", 0o644)
        with pytest.raises(UnsafeArchive, match="member 'bad' cannot be written"):
            writer.finish()
        with pytest.raises(UnsafeArchive, match="member 'bad'"):  # it stays failed
            writer.write("later", str(tmp_path / "later"), b"x", 0o644)
    assert (tmp_path / "ok").read_bytes() == b"ok"
    assert not (tmp_path / "later").exists()


def test_file_writer_keeps_the_last_write_of_a_path_under_any_budget(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        for max_pending, batch_files in ((1, 1), (10_000, 3), (64 * 1024 * 1024, 16)):
            writer = FileWriter(pool, max_pending=max_pending, batch_files=batch_files)
            for i in range(200):
                writer.write(f"m{i}", str(tmp_path / f"f{i % 7}"), str(i).encode() * 1000, 0o644)
            writer.finish()
            for j in range(7):
                last = max(i for i in range(200) if i % 7 == j)
                assert (tmp_path / f"f{j}").read_bytes() == str(last).encode() * 1000
