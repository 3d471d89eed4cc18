"""POST /v1/resolve over a real local index, through the real FastAPI app (ASGI, in process)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.service import Service

LINUX_311 = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}
LINUX_27 = {"python": "2.7.6", "platform": "linux_x86_64"}


def pins(body: dict) -> dict[str, str]:
    return {p["name"]: p["version"] for p in body["packages"]}


def test_resolve_then_cached(
    world: LocalIndex, api: Callable[..., httpx.Client], database_url: str | None
) -> None:
    client = api(world, database_url=database_url)
    body = {"requirements": ["app"], "target": LINUX_311}
    first = client.post("/v1/resolve", json=body)
    assert first.status_code == 200, first.text
    doc = first.json()
    assert pins(doc) == {"app": "1.0", "lib": "2.0"}
    assert doc["cached"] is False
    lib = next(p for p in doc["packages"] if p["name"] == "lib")
    assert lib["files"][0]["sha256"] == world.files["lib-2.0-py3-none-any.whl"].sha256
    assert next(p for p in doc["packages"] if p["name"] == "app")["dependencies"] == ["lib"]
    page_requests = len(world.requests_to("/simple/app/"))
    second = client.post("/v1/resolve", json={"requirements": ["APP"], "target": LINUX_311})
    assert second.status_code == 200
    assert second.json()["cached"] is True
    assert second.json()["id"] == doc["id"]
    assert len(world.requests_to("/simple/app/")) == page_requests


def test_python27_target_is_evaluated_for_the_target(
    world: LocalIndex, api: Callable[..., httpx.Client]
) -> None:
    client = api(world)
    response = client.post("/v1/resolve", json={"requirements": ["app"], "target": LINUX_27})
    assert response.status_code == 200, response.text
    assert pins(response.json()) == {"app": "1.0", "lib": "1.0", "legacy": "1.0"}
    env = response.json()["target"]["marker_environment"]
    assert env["sys_platform"] == "linux2"


def test_formats(world: LocalIndex, api: Callable[..., httpx.Client]) -> None:
    client = api(world)
    body = {"requirements": ["app"], "target": LINUX_311}
    text = client.post("/v1/resolve", json=body, params={"format": "requirements"})
    assert text.status_code == 200
    assert "lib==2.0" in text.text and "--hash=sha256:" in text.text
    toml = client.post("/v1/resolve", json=body, headers={"Accept": "application/vnd.pylock+toml"})
    assert toml.status_code == 200
    assert 'lock-version = "1.0"' in toml.text


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"requirements": ["app>>1"], "target": LINUX_311}, 422, "app>>1"),
        (
            {"requirements": ["app"], "target": {"python": "three", "platform": "linux_x86_64"}},
            422,
            "three",
        ),
        (
            {"requirements": ["app"], "target": {"python": "3.11", "platform": "amiga_68k"}},
            422,
            "amiga_68k",
        ),
        ({"requirements": [], "target": LINUX_311}, 422, "requirements"),
        ({"requirements": ["app"]}, 422, "target"),
        (
            {
                "requirements": ["app"],
                "target": LINUX_311,
                "options": {"exclude_newer": "yesterday"},
            },
            400,
            "yesterday",
        ),
        ({"requirements": ["no-such-project"], "target": LINUX_311}, 404, "no-such-project"),
        ({"requirements": ["left", "right"], "target": LINUX_311}, 409, "shared"),
    ],
)
def test_errors_are_json_and_name_the_problem(
    world: LocalIndex, api: Callable[..., httpx.Client], body: dict, status: int, needle: str
) -> None:
    client = api(world)
    response = client.post("/v1/resolve", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert needle in error["message"] or needle in str(error["details"])


def test_conflict_explains_both_chains(world: LocalIndex, api: Callable[..., httpx.Client]) -> None:
    client = api(world)
    response = client.post(
        "/v1/resolve", json={"requirements": ["left", "right"], "target": LINUX_311}
    )
    assert response.status_code == 409
    causes = " ".join(response.json()["error"]["details"]["causes"])
    assert "left 1.0" in causes and "shared<2" in causes
    assert "right 1.0" in causes and "shared>=2" in causes


def test_upstream_failure_is_502_naming_the_index(
    world: LocalIndex, api: Callable[..., httpx.Client]
) -> None:
    client = api(world)
    world.fail("/simple/app/", 503, times=10)
    response = client.post("/v1/resolve", json={"requirements": ["app"], "target": LINUX_311})
    assert response.status_code == 502, response.text
    assert "127.0.0.1" in response.json()["error"]["message"]


def test_concurrent_identical_requests_share_one_resolution(
    world: LocalIndex, make_service: Callable[..., Service]
) -> None:
    service = make_service(world)
    request = service.make_request(["app"], _target(LINUX_311))
    results = []
    barrier = threading.Barrier(4)

    def ask() -> None:
        barrier.wait()
        results.append(service.resolve(request))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.lock.id for r in results}) == 1
    assert sum(1 for r in results if not r.cached) == 1
    assert len([r for r in world.requests_to("/simple/app/") if r.method == "GET"]) == 1


def test_health(world: LocalIndex, api: Callable[..., httpx.Client]) -> None:
    response = api(world).get("/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def _target(spec: dict) -> object:
    from venvd.target import target_from_request

    return target_from_request(spec)


def test_pages_cached_for_another_index_are_not_reused(
    world: LocalIndex,
    local_index: Callable[..., LocalIndex],
    make_service: Callable[..., Service],
    tmp_path: Path,
) -> None:
    other = local_index()
    other.add(make_wheel(tmp_path / "other", "app", "9.0"))
    shared = tmp_path / "shared-data"
    first = make_service(world, data_dir=shared)
    assert first.resolve(first.make_request(["app"], _target(LINUX_311))).lock.package("app")
    first.close()
    second = make_service(other, data_dir=shared)
    lock = second.resolve(second.make_request(["app"], _target(LINUX_311))).lock
    assert {p.name: p.version for p in lock.packages} == {"app": "9.0"}
    assert other.requests_to("/simple/app/")
