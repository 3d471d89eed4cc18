"""Lock.from_json refuses malformed fields with InvalidLock (never TypeError/AttributeError)."""

from __future__ import annotations

from typing import Any

import pytest

from venvd.errors import InvalidLock
from venvd.lock import Lock
from venvd.target import Target


def _lock(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "packages": [{"name": "a", "version": "1.0", "files": [], "dependencies": ["b>=1"]}],
        "target": Target.current().to_json(),
        "requirements": ["a"],
        "constraints": [],
    }
    doc.update(overrides)
    return doc


def test_a_well_formed_lock_parses() -> None:
    lock = Lock.from_json(_lock())
    assert lock.requirements == ("a",)
    assert lock.packages[0].dependencies == ("b>=1",)


@pytest.mark.parametrize(
    "overrides",
    [
        {"requirements": 5},
        {"requirements": "six"},  # not read as the projects s, i, x
        {"requirements": [1, 2]},
        {"constraints": {"a": 1}},
        {"packages": [{"name": "a", "version": "1", "files": [], "dependencies": "b"}]},
        {"packages": [5]},
    ],
)
def test_malformed_fields_are_invalid_lock(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidLock):
        Lock.from_json(_lock(**overrides))
