"""/v1/environments: one round trip from requirements to an immutable, shared artifact."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.service.conftest import ApiServer
from tests.support.environments import wait_finished
from tests.support.index_server import LocalIndex
from venvd.service import Service

LINUX_311 = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}


def test_create_is_idempotent_and_artifact_resumable(
    world: LocalIndex, api: Callable[..., httpx.Client], database_url: str | None
) -> None:
    client = api(world, database_url=database_url)
    body = {"requirements": ["tool", "app"], "target": LINUX_311}
    first = client.post("/v1/environments", json=body)
    assert first.status_code in (200, 202), first.text
    env_id = first.json()["id"]
    doc = wait_finished(client, env_id)
    assert doc["status"] == "ready", doc
    timings = doc["timings"]
    assert timings["total"] > 0 and {"fetch", "install", "pack"} <= set(timings), timings
    again = client.post("/v1/environments", json=body)
    assert again.status_code == 200
    assert again.json()["id"] == env_id and again.json()["created"] is False
    by_lock = client.post("/v1/environments", json={"lock": doc["lock"], "target": LINUX_311})
    assert by_lock.json()["id"] == env_id

    whole = client.get(f"/v1/environments/{env_id}/artifact")
    assert whole.status_code == 200
    assert (
        hashlib.sha256(whole.content).hexdigest()
        == whole.headers["X-Venvd-Sha256"]
        == doc["sha256"]
    )
    tail = client.get(f"/v1/environments/{env_id}/artifact", headers={"Range": "bytes=100-"})
    assert tail.status_code == 206
    assert tail.content == whole.content[100:]

    events = client.get(f"/v1/environments/{env_id}/events")
    assert "event: ready" in events.text


def test_concurrent_identical_requests_share_one_build(
    world: LocalIndex, make_service: Callable[..., Service]
) -> None:
    service = make_service(world)
    server = ApiServer(service)
    client = server.client()
    body = {"requirements": ["built"], "target": LINUX_311}
    answers: list[dict[str, Any]] = []
    barrier = threading.Barrier(3)

    def ask() -> None:
        barrier.wait()
        answers.append(client.post("/v1/environments", json=body).json())

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({a["id"] for a in answers}) == 1
    assert sum(1 for a in answers if a["created"]) == 1
    assert wait_finished(client, answers[0]["id"])["status"] == "ready"
    built = list((service.settings.data_dir / "cache").glob("built-v1/**/*.whl"))
    assert len(built) == 1
    client.close()
    server.stop()


def test_failed_build_is_recorded_with_its_reason(
    world: LocalIndex, api: Callable[..., httpx.Client]
) -> None:
    client = api(world)
    response = client.post(
        "/v1/environments", json={"requirements": ["broken"], "target": LINUX_311}
    )
    assert response.status_code in (200, 202)
    doc = wait_finished(client, response.json()["id"])
    assert doc["status"] == "failed"
    assert doc["error"]["details"]["package"] == "broken"
    assert "missing compiler" in doc["error"]["details"]["log_tail"]
    artifact = client.get(f"/v1/environments/{doc['id']}/artifact")
    assert artifact.status_code == 404 and "failed" in artifact.json()["error"]["message"]
    # Asking again answers with the recorded failure; a deterministic failure is not rebuilt.
    builds = len(world.requests_to("broken-1.0.tar.gz"))
    again = client.post("/v1/environments", json={"requirements": ["broken"], "target": LINUX_311})
    assert again.json()["status"] == "failed"
    assert len(world.requests_to("broken-1.0.tar.gz")) == builds


def test_foreign_windows_target_from_wheels(
    world: LocalIndex, api: Callable[..., httpx.Client]
) -> None:
    client = api(world)
    response = client.post(
        "/v1/environments",
        json={"requirements": ["tool"], "target": {"python": "3.12", "platform": "win_amd64"}},
    )
    doc = wait_finished(client, response.json()["id"])
    assert doc["status"] == "ready", doc
    assert doc["manifest"]["layout"]["scripts"] == "Scripts"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"target": LINUX_311}, 400),
        ({"lock": {"packages": "nope"}, "target": LINUX_311}, 422),
        ({"requirements": ["tool"], "target": {"python": "3.11", "platform": "nope_os"}}, 422),
    ],
)
def test_bad_input(
    world: LocalIndex, api: Callable[..., httpx.Client], body: dict, status: int
) -> None:
    client = api(world)
    response = client.post("/v1/environments", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message"]


def test_unknown_environment_is_404(world: LocalIndex, api: Callable[..., httpx.Client]) -> None:
    client = api(world)
    response = client.get("/v1/environments/" + "0" * 64)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_posted_lock_may_only_name_files_our_indexes_list(
    world: LocalIndex, api: Callable[..., httpx.Client]
) -> None:
    client = api(world)
    lock = client.post("/v1/resolve", json={"requirements": ["tool"], "target": LINUX_311}).json()
    for key in ("cached", "resolution_key", "timings", "stats", "id"):
        lock.pop(key, None)
    lock["packages"][0]["files"][0]["url"] = "http://169.254.169.254/latest/meta-data/tool.whl"
    response = client.post("/v1/environments", json={"lock": lock, "target": LINUX_311})
    assert response.status_code == 422, response.text
    assert "169.254.169.254" in response.json()["error"]["details"]["url"]
