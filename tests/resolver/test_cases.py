"""Runs every resolver case in tests/resolver/cases/*.toml (see memory.py for the index format).

A case has `requested`, optional `constraints`, `target` ({python, platform}), `options`, and one
expectation: `resolved = {name = version}` (plus optional `dependencies` / `files` per package),
`conflict = [substrings of the ResolutionImpossible message]`, or `error = "ProjectNotFound"`
(plus optional `error_details`). Every resolved case is also resolved with the index's file order
reversed, and must give the same lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import venvd.errors
from tests.resolver.memory import (
    MemorySource,
    case_options,
    case_target,
    load_case,
    requirements,
)
from venvd.errors import ResolutionImpossible
from venvd.lock import Lock
from venvd.resolver import resolve

CASES = sorted((Path(__file__).parent / "cases").glob("*.toml"))


def run(case: dict[str, Any], source: MemorySource) -> Lock:
    return resolve(requirements(case["requested"]), case_target(case), source,
                   constraints=requirements(case.get("constraints", [])),
                   options=case_options(case))


def test_there_are_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case(path: Path) -> None:
    case = load_case(path)
    expectations = [k for k in ("resolved", "conflict", "error") if k in case]
    assert len(expectations) == 1, f"{path.name}: give exactly one of resolved/conflict/error"
    source = MemorySource(case.get("index", {}))

    if "resolved" in case:
        lock = run(case, source)
        assert {p.name: p.version for p in lock.packages} == case["resolved"]
        for name, deps in case.get("dependencies", {}).items():
            package = lock.package(name)
            assert package is not None
            assert list(package.dependencies) == deps
        for name, files in case.get("files", {}).items():
            package = lock.package(name)
            assert package is not None
            assert [f.filename for f in package.files] == files
        again = run(case, MemorySource(case.get("index", {}), reverse=True))
        assert again.to_json() == lock.to_json()
    elif "conflict" in case:
        with pytest.raises(ResolutionImpossible) as caught:
            run(case, source)
        error = caught.value
        assert error.causes and all(isinstance(c, str) for c in error.causes)
        for text in case["conflict"]:
            assert text in error.message, f"{text!r} not in {error.message!r}"
    else:
        error_type = getattr(venvd.errors, case["error"])
        with pytest.raises(error_type) as raised:
            run(case, source)
        for key, value in case.get("error_details", {}).items():
            assert raised.value.details.get(key) == value
