"""Every target a client can ask for costs bounded work: version numbers within what exists, a
bounded number and length of tags, and memos bounded by the tags they hold.

Before: `manylinux_2_300000_x86_64` generated 300,000 tags (59 s, 5.4 GB), `manylinux_2_99999999999`
never answered, 200,000 `compatible_tags` took 40 s; every parsed target stayed in an lru_cache.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from venvd.errors import InvalidTarget, LimitExceeded
from venvd.target import Target, target_from_request
from venvd.target import _request as request_module
from venvd.target._model import MAX_COMPATIBLE_TAGS

ENV = {"python_full_version": "3.11.2", "python_version": "3.11", "sys_platform": "linux"}


@pytest.mark.parametrize(
    ("python", "platform", "needle"),
    [
        ("3.11", "manylinux_2_300000_x86_64", "2_60"),
        ("3.11", "manylinux_2_99999999999_x86_64", "not a known platform"),
        ("3.11", "manylinux_2_" + "9" * 5000 + "_x86_64", "not a known platform"),
        ("3.11", "musllinux_1_100000_x86_64", "1.20"),
        ("3.11", "macosx_100000_0_arm64", "30.20"),
        ("3.11", "macosx_10_999999_x86_64", "30.20"),
        ("3.100000", "linux_x86_64", "3.30"),
        ("3.11.1000000", "linux_x86_64", "not X.Y"),
        ("3." + "1" * 5000, "linux_x86_64", "not X.Y"),
    ],
)
def test_shorthand_versions_are_bounded(python: str, platform: str, needle: str) -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidTarget, match=needle):
        Target.from_shorthand(python, platform)
    assert time.perf_counter() - started < 1.0


def test_largest_shorthand_fits_the_default_tag_limit() -> None:
    biggest = Target.from_shorthand("3.30", "macosx_30_20_x86_64")
    assert len(biggest.compatible_tags) < MAX_COMPATIBLE_TAGS
    assert Target.from_json(biggest.to_json()) == biggest
    # Today's real platforms are well inside the bounds.
    assert Target.from_shorthand("3.14", "manylinux_2_39_x86_64").compatible_tags


def test_shorthand_strings_are_bounded() -> None:
    with pytest.raises(InvalidTarget, match="longer than"):
        target_from_request({"python": "3.11" + " " * 100_000, "platform": "linux_x86_64"})


def test_too_many_compatible_tags_is_refused_before_parsing() -> None:
    tags = [f"cp311-cp311-linux_{i}" for i in range(200_000)]
    started = time.perf_counter()
    with pytest.raises(LimitExceeded) as caught:
        Target.from_json({"marker_environment": ENV, "compatible_tags": tags})
    assert time.perf_counter() - started < 1.0
    assert caught.value.details["limit"] == "max_compatible_tags"
    assert caught.value.http_status == 422
    # The service's setting replaces the default.
    with pytest.raises(LimitExceeded):
        target_from_request({"marker_environment": ENV, "compatible_tags": tags[:11]}, max_tags=10)
    assert len(target_from_request(
        {"marker_environment": ENV, "compatible_tags": tags[:10]}, max_tags=10).compatible_tags) == 10


def test_compressed_tags_count_expanded_before_expanding() -> None:
    part = ".".join("abcdefghijklmnopqrst")  # 20 * 20 * 20 = 8,000 tags in one string
    assert len(f"{part}-{part}-{part}") < 200
    with pytest.raises(LimitExceeded):
        Target.from_json({"marker_environment": ENV, "compatible_tags": [f"{part}-{part}-{part}"]},
                         max_tags=7_999)
    assert len(Target.from_json({"marker_environment": ENV,
                                 "compatible_tags": [f"{part}-{part}-{part}"]}).compatible_tags) == 8000


def test_tag_length_and_marker_environment_are_bounded() -> None:
    with pytest.raises(LimitExceeded, match="longer than"):
        Target.from_json({"marker_environment": ENV, "compatible_tags": ["py3-none-" + "x" * 1000]})
    many = {**ENV, **{f"k{i}": "v" for i in range(100)}}
    with pytest.raises(LimitExceeded):
        Target.from_json({"marker_environment": many, "compatible_tags": ["py3-none-any"]})
    long_value = {**ENV, "platform_version": "x" * 10_000}
    with pytest.raises(LimitExceeded):
        Target.from_json({"marker_environment": long_value, "compatible_tags": ["py3-none-any"]})


def test_target_memo_is_bounded_by_tags_held() -> None:
    memo = request_module._COMPLETE
    memo.clear()
    for i in range(40):
        data: dict[str, Any] = {
            "marker_environment": {**ENV, "platform_release": str(i)},
            "compatible_tags": [f"cp311-cp311-linux_{j}" for j in range(10_000)],
        }
        target_from_request(data)
    assert memo.tags_held <= 200_000
    assert len(memo) <= 20
    # A hit returns the same object.
    again = target_from_request(data)
    assert again is target_from_request(data)
    memo.clear()
