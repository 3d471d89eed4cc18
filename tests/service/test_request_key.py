"""The resolution key: sha256 of the canonical request's canonical JSON. `ResolveRequest.key`
computes it without serializing the target each time (see its docstring); these check that it is
exactly the plain computation, for requests that differ in every part of the key."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from venvd.lock import canonical_json
from venvd.service import RequestOptions
from venvd.service._request import ResolveRequest
from venvd.target import Target

TARGETS = [
    Target.from_shorthand("3.11", "manylinux_2_28_x86_64"),
    Target.from_shorthand("3.8", "macosx_11_0_arm64"),
    Target.from_shorthand("2.7", "win_amd64"),
    Target.current(),
]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.key[:8])
@pytest.mark.parametrize(("requirements", "constraints", "options", "index"), [
    (["app"], [], RequestOptions(), {}),
    (["Django[bcrypt,argon2]>=1.8,<5; python_version>'3'", "six"], ["six<2"],
     RequestOptions(prereleases=True, only_binary=frozenset({":all:"})),
     {"url": "https://example.org/simple", "extra": ["b", "a"]}),
    (["zope.interface"], ["attrs==23.1"],
     RequestOptions(exclude_newer=datetime(2024, 6, 1, tzinfo=UTC),
                    no_binary=frozenset({"attrs"})), {"z": 1}),
])
def test_key_is_the_sha256_of_the_canonical_json(
        target: Target, requirements: list[str], constraints: list[str],
        options: RequestOptions, index: dict[str, object]) -> None:
    request = ResolveRequest.create(requirements, target, constraints=constraints, options=options,
                                    index=index)
    plain = hashlib.sha256(canonical_json(request.canonical())).hexdigest()
    assert request.key == plain
    assert sorted(request.canonical())[-1] == "target"  # what the splice relies on


def test_different_targets_give_different_keys() -> None:
    keys = {ResolveRequest.create(["app"], target).key for target in TARGETS}
    assert len(keys) == len(TARGETS)


def test_the_default_prerelease_mode_leaves_keys_as_they_were() -> None:
    """Keys made before the mode existed stay valid; any other mode is another key."""
    target = TARGETS[0]
    assert "prerelease" not in RequestOptions().to_json()
    keys = {ResolveRequest.create(["app"], target, options=RequestOptions(prerelease=mode)).key
            for mode in ("pep440", "allow", "disallow", "if-necessary", "explicit",
                         "if-necessary-or-explicit")}
    assert len(keys) == 6
    assert ResolveRequest.create(["app"], target).key in keys
