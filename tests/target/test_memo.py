"""A target remembers tag-set ranks and marker answers; remembered answers equal fresh ones."""

from __future__ import annotations

import pytest
from packaging.markers import Marker
from packaging.tags import Tag, parse_tag

from venvd.target import Target
from venvd.target import _model as model

LINUX = Target.from_shorthand("3.11", "manylinux_2_28_x86_64")
WINDOWS = Target.from_shorthand("3.11", "win_amd64")


def test_marker_answers_depend_on_extras_and_target() -> None:
    marker = Marker('sys_platform == "win32" or extra == "test"')
    for _ in range(2):  # the second round is answered from memory
        assert LINUX.evaluate(marker) is False
        assert LINUX.evaluate(marker, ("test",)) is True
        assert LINUX.evaluate(marker, ("docs",)) is False
        assert WINDOWS.evaluate(marker) is True


def test_equal_markers_as_distinct_objects_agree() -> None:
    texts = ['python_version < "3.8"', 'python_version >= "3.8"', 'os_name == "nt"']
    for text in texts * 2:
        assert LINUX.evaluate(Marker(text)) == Marker(text).evaluate(
            {**LINUX.marker_environment, "extra": ""})


def test_memos_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    target = Target.from_shorthand("3.12", "manylinux_2_28_x86_64")
    limit = 10
    monkeypatch.setattr(model, "_MEMO_LIMIT", limit)
    markers = [Marker(f'python_version >= "3.{i}"') for i in range(3 * limit)]
    answers = [target.evaluate(m) for m in markers]
    assert answers == [i <= 12 for i in range(3 * limit)]
    assert len(target._marker_answers) <= limit
    for i in range(3 * limit):
        tags = frozenset(parse_tag(f"cp3{i}-none-any")) | {Tag("py3", "none", "any")}
        assert target.tag_rank(tags) == target.tag_rank(list(tags))
    assert len(target._set_rank) <= limit
