"""A private index in resolution: first-index strategy (a project it holds comes from it only),
resolution keys that change with every upload (no stale cached lock hides a new file), builds
that fetch private files, and another server on the same store seeing an upload."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support.dists import make_sdist, make_wheel
from tests.support.environments import wait_finished
from tests.uploads.conftest import Team, upload

LINUX_311 = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}


def _resolve(http: httpx.Client, *requirements: str) -> dict[str, Any]:
    answer = http.post("/v1/resolve", json={"requirements": list(requirements),
                                            "target": LINUX_311})
    assert answer.status_code == 200, answer.text
    doc: dict[str, Any] = answer.json()
    return doc


def _pins(doc: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {p["name"]: (p["version"], p["files"][0]["url"]) for p in doc["packages"]}


def test_private_first_then_upstream_and_keys_follow_uploads(
        team: Callable[..., Team], tmp_path: Path, database_url: str | None) -> None:
    server = team(database_url=database_url)
    http = server.http
    assert upload(http, make_wheel(tmp_path / "1", "teamlib", "1.0",
                                   requires_dist=["upstreamdep>=1"])).status_code == 200
    first = _resolve(http, "teamlib")
    pins = _pins(first)
    assert pins["teamlib"][0] == "1.0" and pins["teamlib"][1].startswith("venvd-private://team/")
    assert pins["upstreamdep"][0] == "1.0" and pins["upstreamdep"][1].startswith("http://")
    assert _resolve(http, "teamlib")["cached"] is True

    # A new upload: the same request must not be answered by the lock cached before it.
    assert upload(http, make_wheel(tmp_path / "2", "teamlib", "1.1",
                                   requires_dist=["upstreamdep>=1"])).status_code == 200
    after = _resolve(http, "teamlib")
    assert after["cached"] is False and _pins(after)["teamlib"][0] == "1.1"
    assert after["resolution_key"] != first["resolution_key"]

    # First index: once the private index holds `shadowed`, upstream's 2.0 is not a candidate
    # (even though upstream's page is cached from the resolution before).
    assert _pins(_resolve(http, "shadowed"))["shadowed"][0] == "2.0"
    assert upload(http, make_wheel(tmp_path / "3", "shadowed", "1.0")).status_code == 200
    assert _pins(_resolve(http, "shadowed"))["shadowed"][0] == "1.0"
    refused = http.post("/v1/resolve", json={"requirements": ["shadowed>=2"], "target": LINUX_311})
    assert refused.status_code == 409, refused.text


def test_environment_built_from_a_private_wheel_and_sdist(team: Callable[..., Team],
                                                          tmp_path: Path) -> None:
    server = team()
    http = server.http
    wheel = make_wheel(tmp_path, "teamlib", "1.0", requires_dist=["teamtool", "upstreamdep"],
                       files={"teamlib/__init__.py": "from teamtool import NAME\n"})
    sdist = make_sdist(tmp_path, "teamtool", "1.0", files={"teamtool/__init__.py": "NAME = 'x'\n"})
    for dist in (wheel, sdist):
        assert upload(http, dist).status_code == 200
    created = http.post("/v1/environments", json={"requirements": ["teamlib"],
                                                  "target": LINUX_311})
    assert created.status_code in (200, 202), created.text
    doc = wait_finished(http, created.json()["id"])
    assert doc["status"] == "ready", doc
    versions = {p["name"]: p["version"] for p in doc["lock"]["packages"]}
    assert versions == {"teamlib": "1.0", "teamtool": "1.0", "upstreamdep": "1.0"}
    manifest = http.get(f"/v1/environments/{doc['id']}/manifest").json()
    # Each package's fragment: the private wheel, and the wheel built from the private sdist.
    parts = {part.get("package") for part in manifest["parts"]}
    assert {"teamlib", "teamtool", "upstreamdep"} <= parts, manifest


def test_another_server_on_the_store_sees_an_upload(team: Callable[..., Team], tmp_path: Path,
                                                   database_url: str | None) -> None:
    shared = {"object_store": str(tmp_path / "objects"),
              "database_url": database_url or f"sqlite:///{tmp_path / 'shared.db'}"}
    one, two = team(**shared), team(**shared)
    assert two.http.post("/v1/resolve", json={"requirements": ["sharedlib"],
                                              "target": LINUX_311}).status_code == 404
    assert upload(one.http, make_wheel(tmp_path, "sharedlib", "1.0")).status_code == 200
    deadline = time.monotonic() + 5
    while True:
        answer = two.http.post("/v1/resolve", json={"requirements": ["sharedlib"],
                                                    "target": LINUX_311})
        if answer.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert answer.status_code == 200, answer.text
    assert two.http.get("/team/simple/sharedlib/").status_code == 200
    env = two.http.post("/v1/environments", json={"requirements": ["sharedlib"],
                                                  "target": LINUX_311})
    assert wait_finished(two.http, env.json()["id"])["status"] == "ready"


def test_the_server_index_lists_what_resolution_sees(team: Callable[..., Team],
                                                     tmp_path: Path) -> None:
    """/simple/ (the server as an index) reads pages as resolution does: a project the private
    index holds is listed with the private files only, served (and their metadata) from it."""
    server = team()
    json_type = {"Accept": "application/vnd.pypi.simple.v1+json"}
    before = server.http.get("/simple/shadowed/", headers=json_type).json()["files"]
    assert [f["filename"] for f in before] == ["shadowed-2.0-py3-none-any.whl"]
    wheel = make_wheel(tmp_path, "shadowed", "1.0", requires_dist=["upstreamdep"])
    assert upload(server.http, wheel).status_code == 200
    page = server.http.get("/simple/shadowed/", headers=json_type)
    assert page.status_code == 200, page.text
    files = page.json()["files"]
    assert [f["filename"] for f in files] == [wheel.name]  # not upstream's 2.0
    url = str(httpx.URL(f"{server.url}/simple/shadowed/").join(files[0]["url"]))
    assert server.http.get(url).content == wheel.read_bytes()
    assert files[0]["core-metadata"]["sha256"]  # the private index knows its metadata's hash
    metadata = server.http.get(url + ".metadata")
    assert metadata.status_code == 200 and b"Requires-Dist: upstreamdep" in metadata.content
    assert server.http.get("/simple/upstreamdep/", headers=json_type).status_code == 200
