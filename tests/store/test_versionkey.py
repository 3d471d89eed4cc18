"""version_sort_key against packaging's own ordering (hypothesis), and the SQL range pre-filter."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from tests.store.strategies import EDGE_CASES, any_versions
from venvd.store import version_sort_key
from venvd.store._versions import key_range


def _assert_same_order(versions: list[Version]) -> None:
    keys = {v: version_sort_key(v) for v in versions}
    for a, b in itertools.product(versions, repeat=2):
        ka, kb = version_sort_key(a), version_sort_key(b)
        assert (a < b) == (ka < kb), (a, b, ka, kb)
        assert (a == b) == (ka == kb), (a, b, ka, kb)
    assert sorted(versions, key=keys.__getitem__) == sorted(versions)


def test_edge_cases_order_like_packaging() -> None:
    _assert_same_order([Version(v) for v in EDGE_CASES])


@pytest.mark.parametrize(("smaller", "larger"), [
    ("1.0.dev0", "1.0a0"),            # a dev-only release precedes all its pre-releases
    ("1.0a1", "1.0b0"),
    ("1.0rc9", "1.0"),
    ("1.0", "1.0.post0.dev0"),
    ("1.0.post0.dev0", "1.0.post0"),
    ("1.0", "1.0+0"),                 # a local version follows its public version
    ("1.0+abc", "1.0+0"),             # numeric local segments beat alphanumeric ones
    ("1.0+a", "1.0+a.0"),             # longer local beats its own prefix
    ("1.0+2", "1.0+10"),              # numeric segments compare as numbers
    ("1.0+1", "1.0.1"),
    ("9", "10"),
    ("999999999", "1000000000"),      # digit-count crosses the one-character width
    ("9" * 30, "1" + "0" * 30),
    ("1.9", "1.10"),
    ("99!0", "100!0"),
    ("0!9999", "1!0"),
])
def test_known_pairs(smaller: str, larger: str) -> None:
    assert Version(smaller) < Version(larger)
    assert version_sort_key(Version(smaller)) < version_sort_key(Version(larger))


@pytest.mark.parametrize("spellings", [
    ("1", "1.0", "1.0.0", "01.000"),
    ("1.0a1", "1.0alpha1", "1.0-a1", "1.0.a.1"),
    ("1.0rc1", "1.0c1", "1.0pre1", "1.0preview1"),
    ("1.0.post1", "1.0-1", "1.0.rev1", "1.0r1"),
    ("1.0+ubuntu.1", "1.0+Ubuntu-01", "1.0.0+ubuntu_1"),
    ("0!1.0", "1.0", "v1.0"),
])
def test_equal_versions_share_a_key(spellings: tuple[str, ...]) -> None:
    keys = {version_sort_key(Version(s)) for s in spellings}
    assert len(keys) == 1


@settings(max_examples=300)
@given(st.lists(any_versions, min_size=2, max_size=25))
def test_random_versions_sort_like_packaging(versions: list[Version]) -> None:
    _assert_same_order(versions)
    assert all(version_sort_key(v).isascii() for v in versions)


@settings(max_examples=300)
@given(any_versions)
def test_key_is_printable_ascii_without_sql_wildcards(v: Version) -> None:
    key = version_sort_key(v)
    assert key.isascii() and key.isprintable()
    assert not set(key) & set("%_'\\ ")


_OPERATORS = ["==", "!=", ">=", "<=", ">", "<", "~=", "==*", "!=*", "==="]


def _spec(op: str, v: Version) -> SpecifierSet:
    if op.endswith("*"):
        text = f"{op[:-1]}{v.base_version}.*"
    elif op in ("==", "!=", "==="):
        text = f"{op}{v}"
    else:
        text = f"{op}{v.public}"
    return SpecifierSet(text)


@settings(max_examples=400)
@given(st.lists(st.tuples(st.sampled_from(_OPERATORS), any_versions), min_size=1, max_size=3),
       st.lists(any_versions, min_size=1, max_size=20))
@example([(">=", Version("1.0"))], [Version("1.0+local"), Version("1.0.dev0")])
@example([("<=", Version("1.0"))], [Version("1.0+local"), Version("1.0.post1")])
@example([("==", Version("1.0"))], [Version("1.0+local"), Version("1.0.0"), Version("1.0.1")])
@example([("<", Version("1.0"))], [Version("1.0rc1"), Version("0.9+local")])
def test_key_range_never_excludes_a_match(specs: list[tuple[str, Version]],
                                          candidates: list[Version]) -> None:
    try:
        specifier = SpecifierSet(",".join(str(_spec(op, v)) for op, v in specs))
    except InvalidSpecifier:
        return  # e.g. "~=1" (needs two release parts) or a local version with "<"
    low, high = key_range(specifier)
    for candidate in candidates:
        if specifier.contains(candidate, prereleases=True):
            key = version_sort_key(candidate)
            assert low is None or low <= key, (specifier, candidate)
            assert high is None or key < high, (specifier, candidate)
