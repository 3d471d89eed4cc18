"""Advisories over HTTP (scopes: POST admin, GET read) and from the CLI, in-process and through
a server, against environments built for real from the local index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.impact.conftest import LINUX_311
from tests.impact.test_advisories import osv, pypi
from tests.service.conftest import ApiServer
from tests.support.environments import wait_finished
from tests.support.index_server import LocalIndex
from venvd.service import Service
from venvd.store import Tokens


def _advisories() -> list[dict[str, object]]:
    return [osv("PYSEC-1", pypi("base", {"introduced": "1.0"}, {"fixed": "1.4.3"}),
                aliases=["CVE-1"]),
            osv("PYSEC-2", pypi("base", {"introduced": "0"}, {"last_affected": "2.0"}))]


def test_scopes_import_and_impact(diamond: LocalIndex, make_service: Callable[..., Service],
                                  database_url: str | None) -> None:
    service = make_service(diamond, auth="required", database_url=database_url)
    tokens = Tokens(service.store)
    _, reader = tokens.create("reader", "read")
    _, builder = tokens.create("builder", "build")
    _, admin = tokens.create("admin", "admin")
    server = ApiServer(service)
    try:
        def client(token: str) -> httpx.Client:
            return httpx.Client(base_url=server.url, timeout=120,
                                headers={"Authorization": f"Bearer {token}"})

        with client(builder) as c:
            created = c.post("/v1/environments", json={"requirements": ["top"],
                                                       "target": LINUX_311})
            env_id = wait_finished(c, created.json()["id"])["id"]
            assert c.post("/v1/advisories", json=_advisories()).status_code == 403
        with client(admin) as c:
            bad = c.post("/v1/advisories", json=[_advisories()[0],
                                                 osv("X", pypi("base", {"fixed": "never"}))])
            assert bad.status_code == 422
            error = bad.json()["error"]
            assert error["code"] == "invalid_document"
            assert error["details"]["file"] == "body[1]"
            assert error["details"]["field"] == "affected[0].ranges[0].events[0].fixed"
            assert c.post("/v1/advisories", json="nonsense").status_code == 422
            stored = c.post("/v1/advisories", json=_advisories())
            assert stored.status_code == 200, stored.text
            assert stored.json() == {"imported": ["PYSEC-1", "PYSEC-2"], "unchanged": [],
                                     "skipped": []}
            one = c.post("/v1/advisories", json=_advisories()[0]).json()
            assert one["unchanged"] == ["PYSEC-1"]
        with client(reader) as c:
            assert c.post("/v1/advisories", json=_advisories()).status_code == 403
            answer = c.get("/v1/advisories/impact").json()
            assert [(r["advisory"], r["package"], r["version"], r["fixed"],
                     r["environment"]["id"]) for r in answer["items"]] == [
                ("PYSEC-1", "base", "1.4.2", "1.4.3", env_id),
                ("PYSEC-2", "base", "1.4.2", None, env_id)]
            assert answer["items"][0]["environment"]["roots"] == ["top"]
            assert c.get("/v1/advisories/impact", params={"advisory": "CVE-1"}
                          ).json()["total"] == 1
            assert c.get("/v1/advisories/impact", params={"package": "left"}
                          ).json()["items"] == []
            assert c.get("/v1/advisories/impact", params={"package": "!bad"}
                          ).status_code == 422
        assert httpx.get(f"{server.url}/v1/advisories/impact").status_code == 401
    finally:
        server.stop()


def _venvd(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "VENVD_DATA_DIR": str(data_dir), **env}
    full.pop("VENVD_SERVER", None)
    return subprocess.run([sys.executable, "-m", "venvd", *args], capture_output=True, text=True,
                          env=full, timeout=120)


def test_cli_import_and_impact(diamond: LocalIndex, make_service: Callable[..., Service],
                               tmp_path: Path) -> None:
    data_dir = tmp_path / "served"
    service = make_service(diamond, data_dir=data_dir)
    server = ApiServer(service)
    try:
        with server.client() as c:
            created = c.post("/v1/environments", json={"requirements": ["solo"],
                                                       "target": LINUX_311})
            env_id = wait_finished(c, created.json()["id"])["id"]
        tree = tmp_path / "advisory-database" / "vulns" / "base"
        tree.mkdir(parents=True)
        for doc in _advisories():
            (tree / f"{doc['id']}.json").write_text(json.dumps(doc))
        (tree / "PYSEC-3.yaml").write_text(
            "id: PYSEC-3\nmodified: 2026-01-01T00:00:00Z\nsummary: in YAML\naffected:\n"
            "- package: {ecosystem: PyPI, name: base}\n  versions: ['2.0']\n")
        none = _venvd("advisories", "impact", data_dir=data_dir)
        assert none.returncode == 0 and none.stdout.strip() == "no environment holds an affected version"

        imported = _venvd("advisories", "import", str(tmp_path / "advisory-database"),
                          data_dir=data_dir)
        assert imported.returncode == 0, imported.stderr
        assert "3 advisories imported, 0 unchanged, 0 skipped" in imported.stdout
        table = _venvd("advisories", "impact", data_dir=data_dir).stdout.splitlines()
        assert table[0].split()[:4] == ["ADVISORY", "PACKAGE", "HELD", "FIXED"]
        assert [line.split()[:5] for line in table[1:]] == [
            ["PYSEC-2", "base", "2.0", "-", env_id[:12]],
            ["PYSEC-3", "base", "2.0", "-", env_id[:12]]]
        remote = _venvd("advisories", "impact", "--json", "--package", "base", "--server",
                        server.url, data_dir=tmp_path / "elsewhere")
        assert json.loads(remote.stdout)["total"] == 2
        again = _venvd("advisories", "import", str(tree), "--server", server.url,
                       data_dir=tmp_path / "elsewhere")
        assert again.returncode == 0 and "0 advisories imported, 3 unchanged" in again.stdout

        (tree / "PYSEC-4.json").write_text(json.dumps(osv("PYSEC-4", pypi("base", {"x": "1"}))))
        bad = _venvd("advisories", "import", str(tree), data_dir=data_dir)
        assert bad.returncode == 2
        assert bad.stderr.strip().splitlines() == [
            f"venvd: error: {tree / 'PYSEC-4.json'}: affected[0].ranges[0].events[0]: must have "
            "exactly one of introduced, fixed, last_affected, limit"]
    finally:
        server.stop()
