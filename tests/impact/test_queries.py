"""ImpactService over a real store: listings and filters, version matches, why, packages, graph,
last_used; on SQLite and PostgreSQL. The dependency edges are real Requires-Dist metadata."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from venvd.dist import CoreMetadata
from venvd.errors import InvalidRequest, NotFound
from venvd.service._impact import ImpactService, parse_query, target_label
from venvd.store import Store

_TARGET = {"marker_environment": {"python_full_version": "3.11.7"},
           "compatible_tags": ["cp311-cp311-manylinux_2_28_x86_64", "py3-none-any"]}


def _diamond(store: Store) -> None:
    """Three environments over one metadata graph::

        app ──> left ──> base          (env "diamond": two shortest chains app → base)
          └───> right ─> base
        tool ─> base                   (env "tool"; base 2.0rc1 in env "pre")
    """
    graph = {("app", "1.0"): ["left", "right; python_version >= '3'"], ("left", "1.0"): ["base"],
             ("right", "1.0"): ["base>=1"], ("base", "1.4.2"): [], ("base", "2.0rc1"): [],
             ("tool", "3.0"): ["base"]}
    for (name, version), requires in graph.items():
        store.put_metadata(f"sha256:{name}-{version}", CoreMetadata.create(name, version, requires))
    envs = {"diamond": (["app"], ["app", "left", "right", "base"], "1.4.2"),
            "tool": (["tool"], ["tool", "base"], "1.4.2"),
            "pre": (["tool"], ["tool", "base"], "2.0rc1")}
    for env_id, (roots, names, base) in envs.items():
        store.create_environment(env_id, f"lock-{env_id}", f"tk-{env_id}", "ready", roots=roots,
                                 lock={"target": _TARGET})
        store.set_environment_packages(env_id, [
            (n, base if n == "base" else next(v for (m, v) in graph if m == n)) for n in names])


@pytest.fixture
def impact(store: Store) -> ImpactService:
    _diamond(store)
    return ImpactService(store)


def test_list_all_and_filters(impact: ImpactService) -> None:
    everything = impact.list_environments()
    assert everything["total"] == 3
    assert {e["id"] for e in everything["items"]} == {"diamond", "tool", "pre"}
    first = everything["items"][0]
    assert first["target"]["label"] == "cp311 manylinux_2_28_x86_64"
    assert first["status"] == "ready" and first["last_used"] is None
    page = impact.list_environments(limit=2, offset=2)
    assert page["total"] == 3 and len(page["items"]) == 1
    assert impact.list_environments(query="APP")["total"] == 1  # a root name, any case
    assert impact.list_environments(target="tk-to")["items"][0]["id"] == "tool"
    assert impact.list_environments(status="failed")["total"] == 0
    held = impact.list_environments(package="Base", specifier="<2")
    assert {(e["id"], e["version"]) for e in held["items"]} == {("diamond", "1.4.2"),
                                                                ("tool", "1.4.2")}
    assert impact.list_environments(package="base", specifier=">=2.0rc1")["items"][0]["id"] == "pre"
    assert impact.list_environments(package="base", query="pre")["total"] == 1


def test_environments_with_specifiers(impact: ImpactService) -> None:
    def ids(spec: str) -> set[str]:
        return {e["id"] for e in impact.environments_with("base", spec)["items"]}

    assert ids("") == {"diamond", "tool", "pre"}
    assert ids("==1.4.*") == {"diamond", "tool"}
    assert ids("~=1.4") == {"diamond", "tool"}
    assert ids("!=1.4.2") == {"pre"}
    assert ids("<2.0") == {"diamond", "tool"}  # 2.0rc1 < 2.0, but `<2.0` excludes 2.0's pre-releases
    assert ids(">1.4.2,<3") == {"pre"}
    assert ids("===1.4.2") == {"diamond", "tool"}
    assert impact.environments_with("nothing-held", ">1")["items"] == []


@pytest.mark.parametrize(("name", "spec", "field"), [
    ("not a name!", "", "package"), ("base", "<<2", "specifier"), ("base", "x" * 300, "specifier"),
])
def test_bad_arguments_name_the_field(impact: ImpactService, name: str, spec: str,
                                      field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        impact.environments_with(name, spec)
    assert caught.value.http_status == 422
    assert caught.value.details["problems"][0]["field"] == field


def test_bad_list_arguments(impact: ImpactService) -> None:
    for kwargs in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"status": "done"},
                   {"specifier": "<2"}, {"query": "q" * 201}):
        with pytest.raises(InvalidRequest):
            impact.list_environments(**kwargs)  # type: ignore[arg-type]


def test_why_on_the_diamond(impact: ImpactService) -> None:
    answer = impact.why("diamond", "BASE")
    assert answer == {"environment": "diamond", "package": "base", "version": "1.4.2",
                      "paths": [["app", "left", "base"], ["app", "right", "base"]]}
    assert impact.why("diamond", "app")["paths"] == [["app"]]
    with pytest.raises(NotFound) as missing:
        impact.why("tool", "left")
    assert "left" in missing.value.message and missing.value.details["package"] == "left"
    with pytest.raises(NotFound):
        impact.why("nope", "base")


def test_packages_and_graph(impact: ImpactService) -> None:
    found = impact.packages("bas")["items"]
    assert found == [{"name": "base", "versions": ["2.0rc1", "1.4.2"], "environments": 3}]
    assert [p["name"] for p in impact.packages("", limit=2)["items"]] == ["app", "base"]
    # One package by its exact name (the web page's read), not the first of a substring search.
    assert impact.package("Base") == found[0]
    assert impact.packages("a")["items"] and impact.package("a") is None
    graph = impact.graph("diamond")
    assert {(n["name"], n["version"], n["is_root"]) for n in graph["nodes"]} == {
        ("app", "1.0", True), ("left", "1.0", False), ("right", "1.0", False),
        ("base", "1.4.2", False)}
    assert [(e["parent"], e["child"]) for e in graph["edges"]] == [
        ("app", "left"), ("app", "right"), ("left", "base"), ("right", "base")]
    with pytest.raises(NotFound):
        impact.graph("nope")


def test_last_used_is_written_throttled(store: Store, raw: sa.Engine) -> None:
    _diamond(store)
    impact = ImpactService(store, touch_seconds=3600)

    def stamp() -> datetime | None:
        with raw.connect() as conn:
            value = conn.execute(sa.text("SELECT last_used_at FROM environments "
                                         "WHERE id = 'tool'")).scalar()
        return value  # type: ignore[no-any-return]

    assert stamp() is None
    impact.used("tool")
    first = stamp()
    assert first is not None
    impact.used("tool")  # within the interval: this process does not write again
    other = ImpactService(store, touch_seconds=3600)
    other.used("tool")  # another process: its UPDATE matches no row
    assert stamp() == first
    listed = impact.list_environments(target="tk-tool")["items"][0]
    assert listed["last_used"] is not None
    # Once the interval passed, a use is recorded again.
    from venvd.store import Impact

    old = datetime.now(UTC) - timedelta(hours=2)
    with raw.begin() as conn:
        conn.execute(sa.text("UPDATE environments SET last_used_at = :t"), {"t": old})
    assert Impact(store).touch(["tool"], datetime.now(UTC), coarser_than=timedelta(hours=1)) == 1


def test_parse_query_and_labels() -> None:
    name, spec = parse_query("URLLib3<2.0.7")
    assert name == "urllib3" and str(spec) == "<2.0.7"
    for bad in ("urllib3[socks]<2", "urllib3<2; python_version>'3'", "!!", "x @ https://a/b.whl"):
        with pytest.raises(InvalidRequest):
            parse_query(bad)
    assert target_label(None, "abcdef0123456789") == "abcdef012345"
    assert target_label({"marker_environment": {"implementation_name": "cpython",
                                                "sys_platform": "linux"}}, "k") == "cpython linux"
