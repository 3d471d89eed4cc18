"""choose_file: the best compatible wheel by the target's tag order, else the sdist."""

from __future__ import annotations

import pytest

from tests.builder.helpers import windows_target
from venvd.builder._select import choose_file
from venvd.errors import NoCompatibleDistribution
from venvd.lock import LockedFile, LockedPackage
from venvd.target import Target


def _package(*filenames: str, requires_python: str | None = None) -> LockedPackage:
    files = tuple(LockedFile(filename=f, url=f"https://example.invalid/{f}", sha256="0" * 64)
                  for f in filenames)
    return LockedPackage(name="demo", version="1.0", files=files, requires_python=requires_python)


def test_lowest_tag_rank_wins_over_file_order() -> None:
    pkg = _package("demo-1.0-py3-none-any.whl", "demo-1.0-cp311-cp311-win_amd64.whl",
                   "demo-1.0-cp311-abi3-win_amd64.whl", "demo-1.0.tar.gz")
    choice = choose_file(pkg, windows_target(), no_build=False)
    assert choice.kind == "wheel" and choice.file.filename == "demo-1.0-cp311-cp311-win_amd64.whl"


def test_incompatible_wheels_fall_back_to_the_sdist() -> None:
    pkg = _package("demo-1.0-cp311-cp311-win_amd64.whl", "demo-1.0.zip", "demo-1.0.tar.gz")
    choice = choose_file(pkg, Target.current(), no_build=False)
    assert choice.kind == "sdist" and choice.file.filename == "demo-1.0.tar.gz"


def test_no_build_and_no_wheel_names_the_package() -> None:
    pkg = _package("demo-1.0-cp311-cp311-win_amd64.whl", "demo-1.0.tar.gz")
    with pytest.raises(NoCompatibleDistribution, match="--no-build") as err:
        choose_file(pkg, Target.current(), no_build=True)
    assert err.value.package == "demo"
    with pytest.raises(NoCompatibleDistribution, match="no sdist"):
        choose_file(_package("demo-1.0-cp311-cp311-win_amd64.whl"), Target.current(),
                    no_build=False)


def test_requires_python_is_checked_for_the_target() -> None:
    with pytest.raises(NoCompatibleDistribution, match=r"requires Python >=3\.99"):
        choose_file(_package("demo-1.0-py3-none-any.whl", requires_python=">=3.99"),
                    Target.current(), no_build=False)
