"""The impact routes on a real server, over environments built for real from the local index
(their packages and dependency edges come from the builds, not from the test)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.impact.conftest import LINUX_311
from tests.support.environments import wait_finished
from tests.support.index_server import LocalIndex


def _build(client: httpx.Client, *requirements: str) -> str:
    created = client.post("/v1/environments", json={"requirements": list(requirements),
                                                    "target": LINUX_311})
    assert created.status_code in (200, 202), created.text
    doc = wait_finished(client, created.json()["id"])
    assert doc["status"] == "ready", doc
    return str(doc["id"])


def test_queries_over_built_environments(diamond: LocalIndex, api: Callable[..., httpx.Client],
                                         database_url: str | None) -> None:
    client = api(diamond, database_url=database_url)
    top = _build(client, "top")
    solo = _build(client, "solo")

    listed = client.get("/v1/environments").json()
    assert listed["total"] == 2 and [e["id"] for e in listed["items"]] == [solo, top]
    item = listed["items"][1]
    assert item["roots"] == ["top"] and item["status"] == "ready" and item["size"] > 0
    assert item["target"]["label"].endswith("manylinux_2_28_x86_64")
    # Reading a ready environment's status served it: last_used is set.
    assert item["last_used"] is not None
    assert client.get("/v1/environments", params={"q": "sol"}).json()["total"] == 1

    old = client.get("/v1/packages/BASE/environments", params={"specifier": "<2"}).json()
    assert old["package"] == "base" and old["specifier"] == "<2"
    assert [(e["id"], e["version"]) for e in old["items"]] == [(top, "1.4.2")]
    every = client.get("/v1/packages/base/environments").json()
    assert {e["version"] for e in every["items"]} == {"1.4.2", "2.0"}
    assert client.get("/v1/environments", params={"package": "base", "specifier": ">=2"}
                      ).json()["items"][0]["id"] == solo

    why = client.get(f"/v1/environments/{top}/why/base").json()
    assert why == {"environment": top, "package": "base", "version": "1.4.2",
                   "paths": [["top", "left", "base"], ["top", "right", "base"]]}
    graph = client.get(f"/v1/environments/{top}/graph").json()
    assert {(n["name"], n["is_root"]) for n in graph["nodes"]} == {
        ("top", True), ("left", False), ("right", False), ("base", False)}
    assert len(graph["edges"]) == 4

    found = client.get("/v1/packages", params={"q": "bas"}).json()["items"]
    assert found == [{"name": "base", "versions": ["2.0", "1.4.2"], "environments": 2}]


def test_errors_have_the_documented_shape(diamond: LocalIndex,
                                          api: Callable[..., httpx.Client]) -> None:
    client = api(diamond)
    top = _build(client, "top")
    cases = [
        (f"/v1/environments/{top}/why/solo", 404, "not_found", "solo"),
        ("/v1/environments/nope/why/base", 404, "not_found", "nope"),
        ("/v1/environments/nope/graph", 404, "not_found", "nope"),
        ("/v1/packages/base/environments?specifier=%3C%3C2", 422, "invalid_request", "specifier"),
        ("/v1/packages/-bad-/environments", 422, "invalid_request", "package"),
        ("/v1/environments?specifier=%3C2", 422, "invalid_request", "specifier"),
        ("/v1/environments?status=done", 422, "invalid_request", "status"),
        ("/v1/environments?limit=0", 422, None, "limit"),
    ]
    for url, status, code, named in cases:
        answer = client.get(url)
        assert answer.status_code == status, (url, answer.text)
        error = answer.json()["error"]
        assert set(error) == {"code", "message", "details"}
        assert code is None or error["code"] == code
        assert named in answer.text, (url, answer.text)
