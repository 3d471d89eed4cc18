"""`filtered`: a history's matches for a set of requirements, remembered per process, are exactly
packaging's `SpecifierSet.filter` (with `within_bounds`) for every pre-release policy."""

from __future__ import annotations

import itertools

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from venvd.resolver._model import Req
from venvd.resolver._provider import filtered

HISTORY = tuple(sorted((Version(v) for v in [
    "0.9", "1.0a1", "1.0", "1.0.post1", "1.1rc1", "1.1", "1.2.dev0", "1.2", "1.10", "2.0b2", "2.0",
    "2.0.1", "3.0a1"]), reverse=True))
SPECS = ["", ">=1.0", "<2", ">=1.0,<2", ">1.0,<=1.10", "==1.*", "!=1.1", "~=1.1", ">=2.0b1",
         "<1.0", ">=3.0a1", "==2.0.1", ">9"]


@pytest.mark.parametrize(("first", "second"), list(itertools.combinations_with_replacement(SPECS, 2)))
@pytest.mark.parametrize("prereleases", [None, True, False])
def test_same_answer_as_packaging(first: str, second: str, prereleases: bool | None) -> None:
    reqs = frozenset({Req.from_requirement(Requirement(f"p{first}")),
                      Req.from_requirement(Requirement(f"p{second}"))})
    combined = SpecifierSet(first) & SpecifierSet(second)
    expected = tuple(combined.filter(HISTORY, prereleases=prereleases))
    assert filtered(HISTORY, reqs, combined, prereleases) == expected
    assert filtered(HISTORY, reqs, combined, prereleases) == expected  # remembered


def test_another_history_with_the_same_requirements_is_filtered_anew() -> None:
    reqs = frozenset({Req.from_requirement(Requirement("p>=1.0"))})
    combined = SpecifierSet(">=1.0")
    assert filtered(HISTORY, reqs, combined, None) == tuple(combined.filter(HISTORY))
    shorter = HISTORY[3:]
    assert filtered(shorter, reqs, combined, None) == tuple(combined.filter(shorter))
