"""The packse scenarios (tests/resolver/packse-0.3.59), one test each, through venvd's resolution
service on a real local index (see tests/resolver/packse.py for how a scenario becomes an index and
a request).

A satisfiable scenario must resolve, to exactly its expected pins when it lists them; an
unsatisfiable one must fail with a resolution error (never a crash, never a lock). Where venvd
follows another policy than the one a scenario encodes, `POLICY` says which and why.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.resolver.packse import Scenario, build_index, expected_pins, load_scenarios, request_for
from venvd.client._local import LocalClient
from venvd.errors import VenvdError
from venvd.service import Settings

SCENARIOS = load_scenarios()

# Scenarios whose expectation is uv's policy where venvd, by default, follows the PEP (or pip):
# name → venvd's expected pins ({} = no resolution), and why.
_PEP440_PRERELEASES = (
    "PEP 440: pre-releases are excluded unless a specifier names one or no final release "
    "satisfies the specifiers (packaging's SpecifierSet.filter, as pip does); uv allows them only "
    "when every version is a pre-release or the user's own requirement names one")
POLICY: dict[str, tuple[dict[str, str], str]] = {
    "package-only-prereleases-in-range": ({"a": "1.0.0a1"}, _PEP440_PRERELEASES),
    "transitive-package-only-prereleases-in-range": (
        {"a": "0.1.0", "b": "1.0.0a1"}, _PEP440_PRERELEASES),
    "transitive-prerelease-and-stable-dependency": (
        {"a": "1.0.0", "b": "1.0.0", "c": "2.0.0b1"}, _PEP440_PRERELEASES),
    "transitive-prerelease-and-stable-dependency-many-versions": (
        {"a": "1.0.0", "b": "1.0.0", "c": "2.0.0b9"}, _PEP440_PRERELEASES),
    "transitive-prerelease-and-stable-dependency-many-versions-holes": (
        {"a": "1.0.0", "b": "1.0.0", "c": "2.0.0b4"}, _PEP440_PRERELEASES),
    "python-less-than-current": (
        {}, "Requires-Python is honoured whole, upper bounds included, as pip does: the target "
        "is exact, and a package that declares it does not support the target's Python is not "
        "installed for it (uv ignores upper bounds)"),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalClient]:
    root = tmp_path_factory.mktemp("packse")
    index = build_index(root, SCENARIOS)
    client = LocalClient(Settings(data_dir=root / "data", index_url=index.url, http_retries=1))
    try:
        yield client
    finally:
        client.close()
        index.stop()


def resolve(client: LocalClient, body: dict[str, Any]) -> dict[str, str] | VenvdError:
    try:
        lock = client.resolve(body)
    except VenvdError as exc:
        return exc
    assert isinstance(lock, dict)
    return {p["name"]: p["version"] for p in lock["packages"]}


def test_every_scenario_is_here() -> None:
    assert len(SCENARIOS) >= 147


_UNIVERSAL = pytest.mark.skip(reason="a universal (multi-target) scenario: venvd resolves for one "
                               "exact target; universal locks are not built yet")


@pytest.mark.parametrize("scenario", [pytest.param(s, marks=_UNIVERSAL) if s.universal else s
                                      for s in SCENARIOS], ids=lambda s: s.name)
def test_scenario(client: LocalClient, scenario: Scenario) -> None:
    outcome = resolve(client, request_for(scenario))
    expected = scenario.expected
    if scenario.name in POLICY:
        pins, why = POLICY[scenario.name]
        if pins:
            assert outcome == {scenario.project(n): v for n, v in pins.items()}, why
        else:
            assert isinstance(outcome, VenvdError), why
        return
    if expected.get("satisfiable", True):
        assert not isinstance(outcome, VenvdError), (
            f"{scenario.name}: expected a resolution, got {outcome.code}: {outcome}")
        pins = expected_pins(scenario)
        if pins is not None:
            assert outcome == pins, expected.get("explanation", "")
    else:
        assert isinstance(outcome, VenvdError), (
            f"{scenario.name}: expected no resolution ({expected.get('explanation', '')}), "
            f"got {outcome}")


def _about_prereleases(scenario: Scenario) -> bool:
    return scenario.path.parent.name == "prereleases" or (
        scenario.name in POLICY and "pre-release" in POLICY[scenario.name][1])


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS
                                      if not s.universal and _about_prereleases(s)],
                         ids=lambda s: s.name)
def test_prerelease_scenario_with_uv_policy(client: LocalClient, scenario: Scenario) -> None:
    """With uv's default pre-release mode, venvd gives what the scenario expects of uv."""
    body = request_for(scenario)
    if not body["options"]["prereleases"]:
        body["options"]["prerelease"] = "if-necessary-or-explicit"
    outcome = resolve(client, body)
    expected = scenario.expected
    if expected.get("satisfiable", True):
        assert not isinstance(outcome, VenvdError), f"{outcome.code}: {outcome}"
        pins = expected_pins(scenario)
        assert pins is None or outcome == pins, expected.get("explanation", "")
    else:
        assert isinstance(outcome, VenvdError), expected.get("explanation", "")
