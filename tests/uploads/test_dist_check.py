"""`check_distribution` on real files made in tmp dirs: what it reads of a wheel and an sdist,
and each refusal naming its problem."""

from __future__ import annotations

import gzip
import io
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from tests.support.dists import make_sdist, make_wheel
from venvd.errors import InvalidUpload
from venvd.index._metadata import read_pkg_info
from venvd.service._dist_check import check_distribution

BOUNDS = {"max_expanded": 10 * 1024 * 1024, "max_ratio": 200.0}


def test_wheel_and_sdist_metadata(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "Team.Lib", "1.0.post1", requires_dist=["six>=1; extra == 'x'"],
                       requires_python=">=3.9", extras=["x"])
    checked = check_distribution(wheel, wheel.name, **BOUNDS)
    assert (checked.project, str(checked.version), checked.kind) == ("team-lib", "1.0.post1", "wheel")
    assert checked.metadata.requires_dist == ("six>=1; extra == 'x'",)
    assert checked.metadata.requires_python == ">=3.9" and checked.metadata.provides_extra == ("x",)
    assert checked.metadata_bytes.startswith(b"Metadata-Version: ")
    sdist = make_sdist(tmp_path, "team-lib", "1.0", requires_dist=["six"])
    checked = check_distribution(sdist, sdist.name, **BOUNDS)
    assert checked.kind == "sdist" and checked.metadata.requires_dist == ("six",)


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
    return path


@pytest.mark.parametrize(("case", "problem"), [
    ("bad version in metadata", "core metadata is invalid"),
    ("bad requirement", "core metadata is invalid"),
    ("sdist name mismatch", "its metadata says"),
    ("expands too far", "expands to more than"),
    ("truncated sdist", "not a valid tar.gz"),
    ("legacy zip sdist", "not a wheel (.whl) or an sdist (.tar.gz"),
    ("path in name", "not a plain file name"),
])
def test_refusals_name_the_problem(tmp_path: Path, case: str, problem: str) -> None:
    filename = "teamlib-1.0.tar.gz"
    path = tmp_path / filename
    if case == "bad version in metadata":
        _tar(path, {"teamlib-1.0/PKG-INFO": b"Metadata-Version: 2.1\nName: teamlib\nVersion: one\n\n"})
    elif case == "bad requirement":
        _tar(path, {"teamlib-1.0/PKG-INFO": b"Metadata-Version: 2.1\nName: teamlib\nVersion: 1.0\n"
                                            b"Requires-Dist: six >>> 1\n\n"})
    elif case == "sdist name mismatch":
        _tar(path, {"teamlib-1.0/PKG-INFO": b"Metadata-Version: 2.1\nName: other\nVersion: 1.0\n\n"})
    elif case == "expands too far":
        _tar(path, {"teamlib-1.0/PKG-INFO": b"Metadata-Version: 2.1\nName: teamlib\nVersion: 1.0\n\n",
                    "teamlib-1.0/big": b"\0" * (11 * 1024 * 1024)})
    elif case == "truncated sdist":
        whole = make_sdist(tmp_path / "whole", "teamlib", "1.0").read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
    elif case == "legacy zip sdist":
        filename = "teamlib-1.0.zip"
        path = tmp_path / filename
        path.write_bytes(b"PK")
    elif case == "path in name":
        filename = "../teamlib-1.0.tar.gz"
        _tar(path, {})
    with pytest.raises(InvalidUpload) as caught:
        check_distribution(path, filename, **BOUNDS)
    assert problem in caught.value.message and caught.value.details["filename"] == filename


def _long_name_bomb(path: Path, claimed: int) -> Path:
    """An sdist whose first member is a GNU long-name header claiming `claimed` bytes of name
    (zeros: a few hundred kB compressed), which tarfile would read whole into memory."""
    header = tarfile.TarInfo("././@LongLink")
    header.type = tarfile.GNUTYPE_LONGNAME
    header.size = claimed
    chunk = bytes(1024 * 1024)
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(header.tobuf(format=tarfile.GNU_FORMAT))
        for _ in range(claimed // len(chunk)):
            out.write(chunk)
    return path


def test_an_sdist_header_claiming_gigantic_size_is_refused_within_bounded_memory(
    tmp_path: Path,
) -> None:
    bomb = _long_name_bomb(tmp_path / "bomb-1.0.tar.gz", 64 * 1024 * 1024)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidUpload, match="read at once"):
            check_distribution(bomb, bomb.name, **BOUNDS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024  # tarfile alone would have allocated the 64 MiB header
    # The index's PKG-INFO reader (sdists from upstream and direct references) is bounded too.
    with pytest.raises(tarfile.ReadError, match="read at once"):
        read_pkg_info(bomb)
