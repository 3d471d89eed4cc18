"""OSV advisories: parsing (ranges with introduced "0", fixed, last_affected, versions lists,
withdrawn, malformed), import (one transaction, newest `modified` wins), and impact on what
environments hold, with the fixed version to move to; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from packaging.version import Version

from tests.impact.test_queries import _diamond
from venvd.errors import InvalidDocument
from venvd.service._advisories import AdvisoryService, read_documents
from venvd.service._osv import parse_advisory
from venvd.store import Store


def osv(advisory_id: str, *affected: dict[str, Any], modified: str = "2026-01-01T00:00:00Z",
        **extra: Any) -> dict[str, Any]:
    return {"id": advisory_id, "modified": modified, "summary": f"{advisory_id} summary",
            "affected": list(affected), **extra}


def pypi(name: str, *events: dict[str, str], versions: list[str] | None = None,
         kind: str = "ECOSYSTEM") -> dict[str, Any]:
    entry: dict[str, Any] = {"package": {"ecosystem": "PyPI", "name": name}}
    if events:
        entry["ranges"] = [{"type": kind, "events": list(events)}]
    if versions is not None:
        entry["versions"] = versions
    return entry


def _covers(doc: dict[str, Any], version: str) -> bool:
    v = Version(version)
    for i in parse_advisory(doc, "t").intervals:
        above = i.low is None or v >= i.low
        below = i.high is None or v < i.high or (i.high_inclusive and v == i.high)
        if above and below:
            return True
    return False


def test_ranges_follow_the_osv_evaluation() -> None:
    doc = osv("A", pypi("Base", {"introduced": "0"}, {"fixed": "1.2"}, {"introduced": "1.4"},
                        {"last_affected": "1.4.2"}, {"introduced": "2.0"}))
    covered = {v: _covers(doc, v) for v in
               ["0.1", "1.1.9", "1.2", "1.3", "1.4", "1.4.2", "1.4.3", "1.9", "2.0rc1", "2.0", "9"]}
    assert covered == {"0.1": True, "1.1.9": True, "1.2": False, "1.3": False, "1.4": True,
                       "1.4.2": True, "1.4.3": False, "1.9": False, "2.0rc1": False,
                       "2.0": True, "9": True}
    # Events in any order mean the same; limit events and other range types are ignored.
    shuffled = osv("A", pypi("base", {"fixed": "1.2"}, {"limit": "5"}, {"introduced": "0"}))
    assert _covers(shuffled, "1.1") and not _covers(shuffled, "1.2")
    git = osv("G", pypi("base", {"introduced": "0"}, kind="GIT"))
    assert parse_advisory(git, "t").intervals == []
    listed = osv("L", pypi("base", versions=["1.0", "1.4.2", "not a version!"]))
    assert _covers(listed, "1.4.2") and _covers(listed, "1.0.0") and not _covers(listed, "1.4.3")
    other = osv("N", {"package": {"ecosystem": "npm", "name": "base"},
                      "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]})
    assert parse_advisory(other, "t").intervals == []
    assert parse_advisory(osv("W", withdrawn="2026-02-01T00:00:00Z"), "t").withdrawn
    assert parse_advisory({"id": "D", "modified": "2026-01-01T00:00:00Z",
                           "details": "first line\nsecond"}, "t").summary == "first line"


@pytest.mark.parametrize(("doc", "field"), [
    ([], "(document)"),
    ({"modified": "2026-01-01T00:00:00Z"}, "id"),
    ({"id": "X", "modified": "yesterday"}, "modified"),
    ({"id": "X", "modified": "2026-01-01T00:00:00Z", "affected": {}}, "affected"),
    (osv("X", {"package": "base"}), "affected[0].package"),
    (osv("X", pypi("base", {"introduced": "0"}, {"fixed": "soon"})),
     "affected[0].ranges[0].events[1].fixed"),
    (osv("X", pypi("base", {"introduced": "0", "fixed": "1"})), "affected[0].ranges[0].events[0]"),
    (osv("X", {"package": {"ecosystem": "PyPI", "name": "base"},
               "ranges": [{"type": "ECOSYSTEM", "events": []}]}), "affected[0].ranges[0].events"),
    (osv("X", pypi("base", versions=[3])), "affected[0].versions[0]"),
])
def test_malformed_documents_name_the_field(doc: Any, field: str) -> None:
    with pytest.raises(InvalidDocument) as caught:
        parse_advisory(doc, "dir/PYSEC-1.json")
    assert caught.value.http_status == 422 and caught.value.exit_code == 2
    assert caught.value.details["file"] == "dir/PYSEC-1.json"
    assert caught.value.details["field"] == field
    assert caught.value.message.startswith(f"dir/PYSEC-1.json: {field}:")


def test_read_documents_from_a_tree(tmp_path: Path) -> None:
    (tmp_path / "vulns" / "base").mkdir(parents=True)
    (tmp_path / "vulns" / "base" / "PYSEC-1.yaml").write_text(
        "id: PYSEC-1\nmodified: 2026-01-01T00:00:00Z\naffected:\n"
        "- package: {ecosystem: PyPI, name: base}\n"
        "  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: '0'\n    - fixed: '2.0'\n")
    (tmp_path / "vulns" / "GHSA-2.json").write_text(json.dumps([osv("GHSA-2"), osv("GHSA-3")]))
    (tmp_path / "vulns" / "README.md").write_text("not an advisory")
    found = read_documents(tmp_path / "vulns", 1 << 20)
    assert [source.rsplit("/", 1)[-1] for source, _ in found] == [
        "GHSA-2.json[0]", "GHSA-2.json[1]", "PYSEC-1.yaml"]
    advisory = parse_advisory(found[2][1], found[2][0])  # YAML's own timestamp type is taken
    assert advisory.modified.year == 2026 and _covers(found[2][1], "1.9")
    (tmp_path / "bad.json").write_text('{"id": ')
    with pytest.raises(InvalidDocument, match=r"bad\.json:1: not valid JSON"):
        read_documents(tmp_path / "bad.json", 1 << 20)
    with pytest.raises(InvalidDocument, match="max_advisory_file_bytes"):
        read_documents(tmp_path / "vulns", 10)
    with pytest.raises(InvalidDocument, match="no such file"):
        read_documents(tmp_path / "missing", 10)


def test_import_and_impact(store: Store, raw: sa.Engine) -> None:
    _diamond(store)  # base 1.4.2 in "diamond" and "tool", base 2.0rc1 in "pre"
    service = AdvisoryService(store)
    first = osv("PYSEC-1", pypi("base", {"introduced": "0"}, {"fixed": "1.2"},
                                {"introduced": "1.4"}, {"fixed": "1.4.3"}, {"fixed": "1.5"}),
                aliases=["CVE-1"])
    docs = [("a.json", first),
            ("b.json", osv("PYSEC-2", pypi("base", versions=["2.0rc1"]))),
            ("c.json", osv("PYSEC-3", pypi("left", {"introduced": "0"},
                                           {"last_affected": "1.0"}))),
            ("d.json", osv("PYSEC-4", withdrawn="2026-01-01T00:00:00Z")),
            ("e.json", osv("PYSEC-5", pypi("other", {"introduced": "0"})))]
    assert service.import_documents(docs) == {
        "imported": ["PYSEC-1", "PYSEC-2", "PYSEC-3", "PYSEC-5"], "unchanged": [],
        "skipped": ["PYSEC-4"]}
    assert service.import_documents(docs)["unchanged"] == ["PYSEC-1", "PYSEC-2", "PYSEC-3",
                                                           "PYSEC-5"]
    impact = service.impact()
    rows = {(r["advisory"], r["environment"]["id"], r["version"], r["fixed"])
            for r in impact["items"]}
    assert rows == {("PYSEC-1", "diamond", "1.4.2", "1.4.3"), ("PYSEC-1", "tool", "1.4.2", "1.4.3"),
                    ("PYSEC-2", "pre", "2.0rc1", None), ("PYSEC-3", "diamond", "1.0", None)}
    assert impact["total"] == 4
    one = service.impact(advisory="CVE-1")["items"]
    assert {r["environment"]["id"] for r in one} == {"diamond", "tool"}
    assert one[0]["aliases"] == ["CVE-1"] and one[0]["summary"] == "PYSEC-1 summary"
    assert one[0]["environment"]["target"]["label"] == "cp311 manylinux_2_28_x86_64"
    assert [r["advisory"] for r in service.impact(package="LEFT")["items"]] == ["PYSEC-3"]
    assert len(service.impact(limit=1, offset=3)["items"]) == 1

    # A newer `modified` replaces the advisory; a withdrawal removes it.
    fixed_earlier = osv("PYSEC-1", pypi("base", {"introduced": "0"}, {"fixed": "1.0"}),
                        modified="2026-03-01T00:00:00Z")
    assert service.import_documents([("a.json", fixed_earlier)])["imported"] == ["PYSEC-1"]
    assert service.impact(advisory="PYSEC-1")["items"] == []
    gone = osv("PYSEC-2", modified="2026-03-01T00:00:00Z", withdrawn="2026-03-01T00:00:00Z")
    assert service.import_documents([("b.json", gone)])["skipped"] == ["PYSEC-2"]
    with raw.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM advisory_ranges "
                                    "WHERE advisory_id = 'PYSEC-2'")).scalar() == 0


def test_a_bad_document_stores_nothing(store: Store) -> None:
    service = AdvisoryService(store)
    good = osv("PYSEC-1", pypi("base", {"introduced": "0"}))
    bad = osv("PYSEC-2", pypi("base", {"introduced": "zero"}))
    with pytest.raises(InvalidDocument, match=r"b\.json: affected"):
        service.import_documents([("a.json", good), ("b.json", bad)])
    assert service.impact()["total"] == 0
    from venvd.store import Advisories

    assert Advisories(store).count() == 0


def test_nul_characters_are_refused_before_the_store() -> None:
    with pytest.raises(InvalidDocument, match="NUL"):
        parse_advisory(osv("X", pypi("base", {"introduced": "0"}), details="a\x00b"), "t")
