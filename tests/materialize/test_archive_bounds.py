"""The client refuses an archive that holds more than its manifest declares (members, expanded
bytes) or passes its own bounds (those, and the zstd window), before writing what passes them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import zstandard

from tests.builder.helpers import HttpFetcher, lock_for
from tests.materialize.test_hostile_archives import _archive, _manifest
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.builder import BuildCache, build_environment
from venvd.errors import BuildError
from venvd.materialize import ArchiveLimits, MaterializeEvent, materialize
from venvd.target import Target


def _refused(archive: Path, dest: Path, limits: ArchiveLimits | None = None) -> tuple[
        str, list[MaterializeEvent]]:
    limits = limits or ArchiveLimits()
    events: list[MaterializeEvent] = []
    with pytest.raises(BuildError) as err:
        materialize(archive, dest, limits=limits, progress=events.append, verify=False)
    assert err.value.step == "extract"
    assert not dest.exists()
    return err.value.message, events


def test_more_members_than_declared(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "a.tar.zst", [("one.txt", b"1"), ("two.txt", b"2")],
                       _manifest(members=1, expanded_size=2))
    message, _ = _refused(archive, tmp_path / "venv")
    assert "more than 1 members (its manifest declares 1)" in message


def test_more_bytes_than_declared(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "a.tar.zst", [("big.txt", b"x" * 100)],
                       _manifest(members=1, expanded_size=10))
    message, _ = _refused(archive, tmp_path / "venv")
    assert "expands to more than 10 bytes (its manifest declares 10)" in message


@pytest.mark.parametrize(("declared", "limits", "reason"), [
    ({"members": 10, "expanded_size": 0}, ArchiveLimits(max_members=5), "max_members=5"),
    ({"members": 0, "expanded_size": 10**12}, ArchiveLimits(), "max_expanded_size="),
    ({"members": "many", "expanded_size": 0}, ArchiveLimits(), "is not a count"),
])
def test_a_declaration_past_the_bounds_is_refused_before_the_venv_is_made(
        tmp_path: Path, declared: dict[str, object], limits: ArchiveLimits, reason: str) -> None:
    archive = _archive(tmp_path / "a.tar.zst", [], _manifest(**declared))
    message, events = _refused(archive, tmp_path / "venv", limits)
    assert reason in message
    assert events == []  # not even the venv skeleton was started


def test_without_a_declaration_the_bounds_apply(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "a.tar.zst", [("a.txt", b"x" * 60), ("b.txt", b"x" * 60)])
    message, _ = _refused(archive, tmp_path / "venv", ArchiveLimits(max_expanded_size=100))
    assert "more than 100 bytes (the client's bound max_expanded_size=100)" in message
    message, _ = _refused(archive, tmp_path / "venv", ArchiveLimits(max_members=1))
    assert "more than 1 members (the client's bound max_members=1)" in message


def test_a_zstd_window_past_the_bound_is_refused(tmp_path: Path) -> None:
    plain = _archive(tmp_path / "plain.tar.zst", [], _manifest())
    tar = zstandard.ZstdDecompressor().decompressobj().decompress(plain.read_bytes())
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=26,
                                                            write_content_size=False)
    out = io.BytesIO()
    with zstandard.ZstdCompressor(compression_params=params).stream_writer(
            out, closefd=False) as writer:
        writer.write(tar)
    archive = tmp_path / "wide.tar.zst"
    archive.write_bytes(out.getvalue())
    assert zstandard.get_frame_parameters(out.getvalue()).window_size == 64 * 1024 * 1024
    message, events = _refused(archive, tmp_path / "venv")
    assert "window above the client's bound max_window=33554432" in message
    assert events == []
    materialize(archive, tmp_path / "venv", limits=ArchiveLimits(max_window=1 << 27),
                verify=False)  # the same archive under a wider bound is fine


def test_built_artifacts_declare_what_they_hold(tmp_path: Path, index: LocalIndex,
                                                fetcher: HttpFetcher) -> None:
    wheel = make_wheel(tmp_path / "dists", "pkg", "1.0", console_scripts={"pkg-run": "pkg:main"},
                       files={"pkg/__init__.py": "def main():\n    pass\n"})
    index.add(wheel)
    artifact = build_environment(lock_for(index, [wheel]), Target.current(),
                                 cache=BuildCache(tmp_path / "cache"), fetch=fetcher)
    manifest = artifact.manifest
    files = [f for p in manifest["packages"] for f in p["files"]]
    assert manifest["members"] == len(files) > 0
    assert manifest["expanded_size"] > 0
    exact = ArchiveLimits(max_members=len(files), max_expanded_size=manifest["expanded_size"])
    result = materialize(artifact.path, tmp_path / "venv", limits=exact)
    assert result.files == len(files)
