"""Archives crafted to escape the destination are refused, and leave no half-made venv behind."""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import zstandard

from venvd.errors import BuildError
from venvd.materialize import materialize
from venvd.materialize._extract import UnsafeArchive, extract_rest, open_archive, read_manifest
from venvd.target import Target

VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _manifest(**overrides: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "format": "venvd-environment/1",
        "target": Target.current().to_json(),
        "lock": {"requirements": [], "packages": []},
        "layout": {"kind": "posix", "site_packages": f"lib/python{VERSION}/site-packages",
                   "scripts": "bin", "placeholder": "/__venvd_python__"},
        "packages": [],
        "scripts": [],
    }
    manifest.update(overrides)
    return manifest


def _archive(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]],
             manifest: dict[str, Any] | None = None, *, manifest_first: bool = True) -> Path:
    """A zstd-compressed tar: the manifest (unless left out), then `members`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        def add_manifest() -> None:
            body = json.dumps(manifest or _manifest()).encode()
            info = tarfile.TarInfo("venvd-manifest.json")
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))

        if manifest_first:
            add_manifest()
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    path.write_bytes(zstandard.ZstdCompressor().compress(buf.getvalue()))
    return path


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _special(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.devmajor, info.devminor = 1, 3
    return info


HOSTILE: dict[str, tuple[list[tarfile.TarInfo | tuple[str, bytes]], str]] = {
    "traversal": ([("../evil.txt", b"x")], "'..'"),
    "deep traversal": ([("lib/../../evil.txt", b"x")], "'..'"),
    "absolute path": ([("/tmp/venvd-evil-abs.txt", b"x")], "absolute"),
    "symlink out": ([_link("lib/escape", "/tmp"), ("lib/escape/venvd-evil.txt", b"x")], "link"),
    "relative symlink out": ([_link("share", "../../..")], "link"),
    "hard link": ([_link("lib/passwd", "/etc/passwd", tarfile.LNKTYPE)], "link"),
    "character device": ([_special("lib/null", tarfile.CHRTYPE)], "device"),
    "block device": ([_special("lib/disk", tarfile.BLKTYPE)], "device"),
    "fifo": ([_special("lib/pipe", tarfile.FIFOTYPE)], "fifo"),
    "overwrites the venv python": ([("bin/python", b"#!/bin/sh\necho pwned\n")],
                                   "venv itself"),
    "overwrites pyvenv.cfg": ([("pyvenv.cfg", b"home = /tmp\n")], "venv itself"),
    "backslash name": ([("lib\\..\\..\\evil.txt", b"x")], "backslash"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_member_is_refused(case: str, tmp_path: Path) -> None:
    members, reason = HOSTILE[case]
    archive = _archive(tmp_path / "evil.tar.zst", members)
    dest = tmp_path / "work" / "venv"
    with pytest.raises(BuildError) as err:
        materialize(archive, dest)
    assert err.value.step == "extract" and reason in err.value.message
    assert not dest.exists()
    assert list((tmp_path / "work").iterdir()) == []
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "work" / "evil.txt").exists()
    assert not Path("/tmp/venvd-evil-abs.txt").exists()
    assert not Path("/tmp/venvd-evil.txt").exists()


def test_failure_empties_a_dest_that_existed(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "evil.tar.zst", [("ok.txt", b"fine"), ("../evil.txt", b"x")])
    dest = tmp_path / "venv"
    dest.mkdir()
    with pytest.raises(BuildError):
        materialize(archive, dest)
    assert dest.is_dir() and list(dest.iterdir()) == []


@pytest.mark.parametrize("script", ["../../outside", "/etc/passwd"])
def test_manifest_scripts_outside_the_venv_are_refused(tmp_path: Path, script: str) -> None:
    archive = _archive(tmp_path / "a.tar.zst", [("bin/tool", b"#!/__venvd_python__\n")],
                       _manifest(scripts=[script]))
    with pytest.raises(BuildError, match="script"):
        materialize(archive, tmp_path / "venv")
    assert not (tmp_path / "venv").exists()


def test_not_a_venvd_archive(tmp_path: Path) -> None:
    no_manifest = _archive(tmp_path / "a.tar.zst", [("x.txt", b"x")], manifest_first=False)
    with pytest.raises(BuildError, match=r"does not start with venvd-manifest\.json"):
        materialize(no_manifest, tmp_path / "v1")
    future = _archive(tmp_path / "b.tar.zst", [], _manifest(format="venvd-environment/9"))
    with pytest.raises(BuildError, match="too old"):
        materialize(future, tmp_path / "v2")
    truncated = tmp_path / "c.tar.zst"
    good = _archive(tmp_path / "good.tar.zst", [("lib/x.txt", b"x" * 100_000)])
    truncated.write_bytes(good.read_bytes()[:-50])
    with pytest.raises(BuildError) as err:
        materialize(truncated, tmp_path / "v3")
    assert err.value.step == "extract"
    garbage = tmp_path / "d.tar.zst"
    garbage.write_bytes(b"not zstd at all" * 100)
    with pytest.raises(BuildError, match="not a usable venvd archive"):
        materialize(garbage, tmp_path / "v4")
    assert not any((tmp_path / f"v{i}").exists() for i in range(1, 5))


def test_links_already_in_the_destination_are_never_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("intact")
    dest = tmp_path / "venv"
    (dest / "lib").mkdir(parents=True)
    os.symlink("lib", dest / "lib64")  # like the venv skeleton's own link: stays inside
    os.symlink(outside, dest / "escape")
    os.symlink(outside / "victim.txt", dest / "victim.txt")

    def extract(*members: tuple[str, bytes]) -> list[str]:
        archive = _archive(tmp_path / "a.tar.zst", list(members))
        with open_archive(archive) as tf:
            read_manifest(tf)
            return extract_rest(tf, dest, protected=frozenset())

    assert extract(("lib64/inside.txt", b"ok")) == ["lib64/inside.txt"]
    assert (dest / "lib" / "inside.txt").read_bytes() == b"ok"
    with pytest.raises(UnsafeArchive, match="link out of the environment"):
        extract(("escape/evil.txt", b"x"))
    with pytest.raises(UnsafeArchive, match="symbolic link"):
        extract(("victim.txt", b"pwned"))
    assert (outside / "victim.txt").read_text() == "intact"
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]


def test_modes_are_normalized(tmp_path: Path) -> None:
    setuid = tarfile.TarInfo("bin/tool")
    setuid.mode = 0o4777
    data = b"#!/bin/sh\n"
    setuid.size = len(data)
    plain = tarfile.TarInfo("lib/data.txt")
    plain.mode = 0o666
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.addfile(setuid, io.BytesIO(data))
        tf.addfile(plain, io.BytesIO(b""))
    dest = tmp_path / "venv"
    dest.mkdir()
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue()), mode="r|") as tf:
        extract_rest(tf, dest, protected=frozenset())
    umask = os.umask(0)
    os.umask(umask)
    assert (dest / "bin" / "tool").stat().st_mode & 0o7777 == 0o755 & ~umask
    assert (dest / "lib" / "data.txt").stat().st_mode & 0o7777 == 0o644 & ~umask
