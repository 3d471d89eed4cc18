"""The `target` value of a request: "current", a shorthand object, or a complete platform."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from venvd.errors import InvalidTarget
from venvd.target import Target, target_from_request


def test_current() -> None:
    assert target_from_request(None) == Target.current()
    assert target_from_request("current") == Target.current()
    assert target_from_request({}) == Target.current()


def test_shorthand_object() -> None:
    t = target_from_request({"python": "3.11", "platform": "manylinux_2_28_x86_64"})
    assert t == Target.from_shorthand("3.11", "manylinux_2_28_x86_64")
    assert str(t.compatible_tags[0]) == "cp311-cp311-manylinux_2_28_x86_64"


def test_shorthand_object_with_one_key() -> None:
    t = target_from_request({"platform": "win_amd64"})
    assert t.marker_environment["python_version"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert t.marker_environment["sys_platform"] == "win32"
    t = target_from_request({"python": "2.7.6", "platform": None})
    assert t.marker_environment["python_full_version"] == "2.7.6"


def test_complete_platform_object() -> None:
    wanted = Target.from_shorthand("2.7.6", "linux_x86_64")
    assert target_from_request(wanted.to_json()) == wanted
    assert target_from_request(wanted) is wanted


def test_complete_platform_with_compressed_tags() -> None:
    t = target_from_request({
        "marker_environment": {"python_full_version": "3.11.2", "python_version": "3.11",
                               "sys_platform": "linux"},
        "compatible_tags": ["cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
                            "py2.py3-none-any"],
    })
    assert len(t.compatible_tags) == 4
    assert t.python_version == "3.11"


@pytest.mark.parametrize(("data", "words"), [
    ("linux", "'linux'"),
    (42, "int"),
    (["3.11"], "list"),
    ({"python": 3.11}, "'python' must be a string"),
    ({"platform": ["win_amd64"]}, "'platform' must be a string"),
    ({"pyhton": "3.11"}, "'pyhton'"),
    ({"python": "3.11", "marker_environment": {}, "compatible_tags": []}, "'python'"),
    ({"marker_environment": {"python_version": "3.11"}, "compatible_tags": ["py3-none-any"]},
     "python_full_version"),
    ({"compatible_tags": ["py3-none-any"]}, "marker_environment"),
    ({"python": "3.x"}, "'3.x'"),
    ({"platform": "solaris"}, "'solaris'"),
])
def test_bad_targets(data: Any, words: str) -> None:
    with pytest.raises(InvalidTarget) as info:
        target_from_request(data)
    assert words in str(info.value)
    assert info.value.to_json()["error"]["code"] == "invalid_target"
