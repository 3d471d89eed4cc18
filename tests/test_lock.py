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


def test_the_encoded_result_is_the_json_of_to_json() -> None:
    """A cache hit's response body splices the lock's members, encoded once, with its own; the
    bytes must be what encoding the whole document gives (non-ASCII text included)."""
    import json

    from starlette.responses import JSONResponse

    from venvd.service._resolve import ResolveResult

    lock = Lock.from_json(_lock(requirements=["a; python_version > '3' # café"]))
    for cached, timings in ((True, {"total_ms": 0.12}), (False, {"total_ms": 3.5, "fetch": 1.0})):
        result = ResolveResult(lock, "k" * 64, cached, timings, {"pages": 2})
        assert result.json_bytes() == JSONResponse(result.to_json()).body
        assert json.loads(result.json_bytes()) == result.to_json()
