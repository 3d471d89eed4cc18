"""Many requirements: resolvelib asks for a preference of every unpinned identifier in every round,
so a request of N projects cost N squared preferences (8,000 requirements took 16 s). The provider
answers each (identifier, information) once and picks the preferred identifier itself."""

from __future__ import annotations

import time

import pytest
from packaging.requirements import Requirement

from tests.resolver.memory import MemorySource
from venvd.resolver import resolve
from venvd.resolver._provider import Provider
from venvd.target import Target

TARGET = Target.from_shorthand("3.11", "linux_x86_64")


def test_preferences_are_computed_once_per_identifier_state(monkeypatch: pytest.MonkeyPatch) -> None:
    computed: list[str] = []
    original = Provider.matching_versions

    def counting(self: Provider, name: str, reqs: object) -> object:
        computed.append(name)
        return original(self, name, reqs)  # type: ignore[arg-type]

    monkeypatch.setattr(Provider, "matching_versions", counting)
    n = 300
    source = MemorySource({f"p{i}": {"1.0": {}} for i in range(n)})
    lock = resolve([Requirement(f"p{i}") for i in range(n)], TARGET, source)
    assert len(lock.packages) == n
    # find_matches, _prefetch and get_preference each ask once per identifier: linear, not n * n.
    assert len(computed) <= 4 * n


@pytest.mark.slow
def test_the_default_maximum_of_requirements_resolves_well_within_the_default_budget() -> None:
    n = 1_000  # Settings.max_requirements
    source = MemorySource({f"p{i}": {"1.0": {"requires_dist": [f"p{(i + 1) % n}"]}} for i in range(n)})
    started = time.perf_counter()
    lock = resolve([Requirement(f"p{i}") for i in range(n)], TARGET, source)
    assert len(lock.packages) == n
    assert time.perf_counter() - started < 60  # resolution_timeout defaults to 300 s
