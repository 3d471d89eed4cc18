"""The packse scenarios (tests/resolver/packse-0.3.59), one test each, through venvd's resolution
service on a real local index (see tests/resolver/packse.py for how a scenario becomes an index and
a request).

A satisfiable scenario must resolve, to exactly its expected pins when it lists them; an
unsatisfiable one must fail with a resolution error (never a crash, never a lock). Where venvd
follows another policy than the one a scenario encodes, `POLICY` says which and why.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.resolver.packse import (
    DEFAULT_PYTHON,
    Scenario,
    build_index,
    expected_pins,
    load_scenarios,
    request_for,
)
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


# Universal scenarios run on a representative set of targets: the three platforms users lock for
# most (Linux x86_64 glibc, macOS arm64, Windows AMD64), with every CPython minor version the scenario
# allows, from the lower bound of `[root] requires_python` (its full version: ">=3.10.1" starts at
# 3.10.1; else the scenario's Python) up to 3.13, the newest CPython when packse 0.3.59 was
# published. uv locks for every environment a marker can describe; venvd for the targets given.
UNIVERSAL_PLATFORMS = ("manylinux_2_28_x86_64", "macosx_14_0_arm64", "win_amd64")
NEWEST_MINOR = 13


def universal_targets(scenario: Scenario) -> list[dict[str, str]]:
    lowest = scenario.doc.get("environment", {}).get("python") or DEFAULT_PYTHON
    bound = re.fullmatch(r">=\s*(3\.\d+(?:\.\d+)?)", scenario.doc["root"].get("requires_python", ""))
    if bound:
        lowest = bound.group(1)
    first_minor = int(lowest.split(".")[1])
    pythons = [lowest] + [f"3.{minor}" for minor in range(first_minor + 1, NEWEST_MINOR + 1)]
    return [{"python": python, "platform": platform}
            for python in pythons for platform in UNIVERSAL_PLATFORMS]


def test_every_scenario_is_here() -> None:
    assert len(SCENARIOS) >= 147


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if not s.universal],
                         ids=lambda s: s.name)
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


# Universal scenarios where venvd's per-target strategy gives another valid answer than uv's
# forking: name → venvd's union of pins ({} = an empty lock, None = no lock), and why.
_PER_TARGET_SATISFIABLE = (
    "venvd resolves each target alone, and each one is satisfiable on its own; uv forks only on "
    "the markers of the requirement that disagree, and its fork that mixes both fails")
UNIVERSAL_POLICY: dict[str, tuple[dict[str, str] | None, str]] = {
    "conflict-in-fork": (
        {}, "no given target is sys_platform 'os1' or 'os2', so every target installs nothing; uv "
        "also resolves the 'os2' fork, for environments nobody asked for, and that fork conflicts"),
    "fork-non-local-fork-marker-direct": (
        {"a": "1.0.0", "b": "1.0.0", "c": "1.0.0 2.0.0"}, _PER_TARGET_SATISFIABLE),
    "fork-non-local-fork-marker-transitive": (
        {"a": "1.0.0", "b": "1.0.0", "c": "1.0.0 2.0.0"}, _PER_TARGET_SATISFIABLE),
    "preferences-dependent-forking-conflicting": (
        {"bar": "1.0.0 2.0.0", "cleaver": "1.0.0", "foo": "1.0.0 2.0.0"},
        "each target alone resolves (cleaver 1 with foo 1/bar 2 on Linux, foo 2/bar 1 elsewhere); "
        "uv's answer depends on the preferences one fork leaves to the next"),
    "specific-architecture": (
        None, "a universal lock must be installable on every given target: b, c and d have cp313 "
        "wheels only and no sdist, so the Python 3.12 targets cannot install b; uv locks them with "
        "no file usable on 3.12"),
}


def _union_pins(doc: dict[str, Any], scenario: Scenario) -> dict[str, str]:
    """{name: versions (space-separated, sorted)} of a universal lock."""
    found: dict[str, list[str]] = {}
    for package in doc["packages"]:
        found.setdefault(package["name"], []).append(package["version"])
    return {name.removeprefix(f"{scenario.project('')}"): " ".join(sorted(versions))
            for name, versions in found.items()}


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.universal], ids=lambda s: s.name)
def test_universal_scenario(client: LocalClient, scenario: Scenario) -> None:
    """A universal scenario on `universal_targets`: a lock whose markers hold on exactly the
    targets using each pin, each target's part being what it resolves to alone; or an error."""
    body = request_for(scenario)
    targets = universal_targets(scenario)
    del body["target"]
    body["targets"] = targets
    try:
        doc = client.resolve(body)
    except VenvdError as exc:
        outcome: dict[str, Any] | VenvdError = exc
    else:
        assert isinstance(doc, dict)
        outcome = doc
    expected = scenario.expected
    if scenario.name in UNIVERSAL_POLICY:
        pins, why = UNIVERSAL_POLICY[scenario.name]
        if pins is None:
            assert isinstance(outcome, VenvdError), why
            return
        assert not isinstance(outcome, VenvdError), f"{why}: got {outcome}"
        assert _union_pins(outcome, scenario) == pins, why
    elif not expected.get("satisfiable", True):
        assert isinstance(outcome, VenvdError), (
            f"expected no resolution ({expected.get('explanation', '')}), got {outcome}")
        assert outcome.details.get("target") is not None, "the error names the target"
        return
    else:
        assert not isinstance(outcome, VenvdError), f"{outcome.code}: {outcome}"
        if expected.get("packages") is not None:
            assert _union_pins(outcome, scenario) == {
                n: str(v) for n, v in expected["packages"].items()}
    from packaging.markers import Marker

    from venvd.target import target_from_request

    for i, target in enumerate(targets):
        env = {**target_from_request(target).marker_environment, "extra": ""}
        for package in outcome["packages"]:
            holds = package["marker"] is None or Marker(package["marker"]).evaluate(env)
            assert holds == (i in package["targets"]), (package["name"], package["version"], i)
        alone = client.resolve({**body, "targets": None, "target": target})
        assert isinstance(alone, dict)
        assert alone["id"] == outcome["targets"][i]["lock_id"]
