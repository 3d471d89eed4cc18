"""Every specifier operator, through the store's SQL narrowing and the Python finish, against
packaging's own answer (hypothesis over versions, as tests/store/test_versionkey.py does), on
SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from tests.store.strategies import any_versions
from venvd.store import Impact, Store

_OPERATORS = ["==", "!=", "<", "<=", ">", ">=", "~=", "===", "==*", "!=*"]


@st.composite
def specifiers(draw: st.DrawFn) -> str:
    op = draw(st.sampled_from(_OPERATORS))
    v = draw(any_versions)
    if op.endswith("*"):
        release = v.release[:draw(st.integers(1, len(v.release)))]
        text = f"{op[:-1]}{'' if v.epoch == 0 else f'{v.epoch}!'}"
        text += ".".join(map(str, release)) + ".*"
    elif op in ("==", "!=", "==="):
        text = f"{op}{v}"
    elif op == "~=":
        assume(len(v.release) >= 2)
        text = f"~={v.public}"
    else:
        text = f"{op}{v.public}"
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        assume(False)
    return text


def _hold(store: Store, raw: sa.Engine, versions: list[Version]) -> dict[str, str]:
    with raw.begin() as conn:
        conn.execute(sa.text("DELETE FROM environments"))
    held = {}
    for i, version in enumerate(versions):
        env_id = f"e{i}"
        store.create_environment(env_id, "lock", "target", "ready", roots=["p"])
        store.set_environment_packages(env_id, [("p", str(version))])
        held[env_id] = str(version)
    return held


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(versions=st.lists(any_versions, min_size=1, max_size=12),
       texts=st.lists(specifiers(), min_size=1, max_size=2))
@example(versions=[Version("2.0.7rc1"), Version("2.0.6"), Version("2.0.7"), Version("2.0.7.post1")],
         texts=["<2.0.7"])
@example(versions=[Version("1.0+local"), Version("1.0"), Version("1.0.post1"), Version("1.1")],
         texts=[">1.0"])
@example(versions=[Version("1.0+local"), Version("1.0"), Version("1.0.1")], texts=["<=1.0"])
@example(versions=[Version("1.4.2"), Version("1.5"), Version("2.0a1")], texts=["~=1.4"])
def test_matches_what_packaging_says(store: Store, raw: sa.Engine, versions: list[Version],
                                     texts: list[str]) -> None:
    held = _hold(store, raw, versions)
    specifier = SpecifierSet(",".join(texts))
    expected = {env_id for env_id, v in held.items()
                if specifier.contains(Version(v), prereleases=True)}
    found, total = Impact(store).environments(package="p", specifier=specifier, limit=500)
    assert {s.id for s in found} == expected, (str(specifier), held)
    assert total == len(expected)
    assert all(s.version == held[s.id] for s in found)


@pytest.mark.parametrize(("spec", "held"), [
    ("<2.0.7", ["2.0.6", "2.0.6.post1+x"]), ("==1.0", ["1.0", "1.0.0", "1.0+local"]),
    ("!=1.0", ["0.9", "1.0.post1"]), ("==1.*", ["1.0a1", "1.9.9", "1.0+x"]),
])
def test_examples(store: Store, raw: sa.Engine, spec: str, held: list[str]) -> None:
    others = ["0.1", "1.0", "1.0.1", "2.0.7", "2.0.7rc1", "3"]
    versions = {Version(v) for v in held + others}
    ids = _hold(store, raw, sorted(versions))
    found, _ = Impact(store).environments(package="p", specifier=SpecifierSet(spec), limit=500)
    expected = {env_id for env_id, v in ids.items()
                if SpecifierSet(spec).contains(Version(v), prereleases=True)}
    assert {s.id for s in found} == expected
    for version in held:  # the listed ones are among them (a check on the hand-written list)
        assert any(Version(ids[s.id]) == Version(version) for s in found), (spec, version)
