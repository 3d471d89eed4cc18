"""Builds on the real queue: `venvd serve` (queue_url set) enqueues, two `venvd worker` processes take
the jobs from RabbitMQ, all on one PostgreSQL store.

- a build completes on a worker (not on the API node), and its artifact downloads through the API;
- identical concurrent requests to two API nodes, and duplicate or stale jobs, make exactly one build;
- a worker killed with kill -9 mid-build: the other worker takes the redelivered job over and the
  environment becomes ready;
- a record created while the broker is unreachable is published by the API node's relay later.
"""

from __future__ import annotations

import hashlib
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.fleet._queue_support import LINUX_311, Fleet, TcpGate
from tests.service.proxy import FaultProxy
from tests.support.ports import free_port
from venvd.store import EnvironmentRecord, Store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def wait_status(url: str, env_id: str, statuses: tuple[str, ...] = ("ready", "failed"),
                timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        doc = httpx.get(f"{url}/v1/environments/{env_id}", timeout=10).json()
        if doc["status"] in statuses:
            return doc
        time.sleep(0.1)
    raise AssertionError(f"environment {env_id} never got {statuses}: {doc}")


def record(fleet: Fleet, env_id: str) -> EnvironmentRecord:
    with Store.open(fleet.database_url) as store:
        found = store.get_environment(env_id)
    assert found is not None
    return found


def builds_started(fleet: Fleet, env_id: str) -> int:
    """Builds of `env_id` the workers started, from their logs."""
    return sum(len(re.findall(rf"building environment {env_id} ", w.log())) for w in fleet.workers())


def test_a_build_runs_on_a_worker_and_downloads_through_the_api(fleet: Fleet) -> None:
    api, url = fleet.api()
    ports = [free_port(), free_port()]
    workers = [fleet.worker(VENVD_WORKER_METRICS_PORT=str(port)) for port in ports]
    response = httpx.post(f"{url}/v1/environments",
                          json={"requirements": ["tool"], "target": LINUX_311}, timeout=60)
    assert response.status_code == 202, response.text
    env_id = response.json()["id"]
    doc = wait_status(url, env_id)
    assert doc["status"] == "ready", doc
    built = record(fleet, env_id)
    assert built.owner_pid in {w.pid for w in workers} and built.owner_pid != api.pid
    assert built.attempts == 1 and built.published_at is not None
    artifact = httpx.get(f"{url}/v1/environments/{env_id}/artifact", timeout=30)
    assert artifact.status_code == 200
    assert hashlib.sha256(artifact.content).hexdigest() == doc["sha256"]
    assert builds_started(fleet, env_id) == 1
    # The worker that built it counts the build in its own metrics (the API nodes do not run it).
    port = ports[[w.pid for w in workers].index(built.owner_pid)]
    scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert re.search(r'^venvd_builds_finished_total\{outcome="ready"\} 1\.0$', scraped, re.M), scraped
    assert re.search(r"^venvd_build_duration_seconds_count(\{[^}]*\})? 1\.0$", scraped, re.M), scraped


def test_identical_concurrent_requests_and_duplicate_jobs_make_one_build(
    fleet: Fleet, fleet_index: FaultProxy
) -> None:
    from venvd.queue import BuildQueue

    _, url = fleet.api()
    _, other_url = fleet.api()
    fleet.worker()
    fleet.worker()
    # Wheel downloads wait, so that duplicate jobs arrive while the build runs.
    fleet_index.hold(lambda path: path.endswith(".whl"))
    body = {"requirements": ["app"], "target": LINUX_311}
    with httpx.Client(timeout=60) as client, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(
            lambda i: client.post(f"{(url, other_url)[i % 2]}/v1/environments", json=body),
            range(8)))
    assert all(a.status_code in (200, 202) for a in answers), [a.text for a in answers]
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 1
    env_id = ids.pop()
    assert sum(a.json()["created"] for a in answers) == 1

    queue = BuildQueue(fleet.queue_url, fleet.queue_name)
    try:
        deadline = time.monotonic() + 60
        while not fleet_index.requests_to(".whl"):
            assert time.monotonic() < deadline, "the build never fetched its wheels"
            time.sleep(0.05)
        for _ in range(4):  # as a relay or a redelivery would: the same job again, mid-build
            queue.publish(env_id)
        unknown = "f" * 64
        queue.publish(unknown)  # a job without a record
        deadline = time.monotonic() + 30
        while sum(w.log().count("builds it; skipped") for w in fleet.workers()) < 4:
            assert time.monotonic() < deadline, [w.log()[-2000:] for w in fleet.workers()]
            time.sleep(0.1)
        fleet_index.release()
        assert wait_status(url, env_id)["status"] == "ready"
        queue.publish(env_id)  # and after the end
        deadline = time.monotonic() + 30
        while not any(f"{env_id}: already ready; skipped" in w.log() for w in fleet.workers()):
            assert time.monotonic() < deadline, [w.log()[-2000:] for w in fleet.workers()]
            time.sleep(0.1)
    finally:
        fleet_index.release()
        queue.close()
    assert any(f"environment {unknown}: no such record; dropped" in w.log() for w in fleet.workers())
    assert builds_started(fleet, env_id) == 1
    assert record(fleet, env_id).attempts == 1


def test_a_worker_killed_mid_build_is_taken_over_by_the_other(
    fleet: Fleet, fleet_index: FaultProxy
) -> None:
    _, url = fleet.api()
    workers = {w.pid: w for w in (fleet.worker(), fleet.worker())}
    fleet_index.hold(lambda path: path.endswith(".whl"))
    try:
        response = httpx.post(f"{url}/v1/environments",
                              json={"requirements": ["solo"], "target": LINUX_311}, timeout=60)
        assert response.status_code == 202, response.text
        env_id = response.json()["id"]
        deadline = time.monotonic() + 60
        while not fleet_index.requests_to(".whl"):
            assert time.monotonic() < deadline, "the build never fetched its wheel"
            time.sleep(0.05)
        first = record(fleet, env_id)
        assert first.status == "building" and first.owner_pid in workers, first
        victim = workers.pop(first.owner_pid)
        (survivor,) = workers.values()
        victim.kill()

        # RabbitMQ gives the unacknowledged job to the survivor at once; it sees the owner dead
        # and takes the build over (while the wheel is still held: no waiting for a timeout).
        deadline = time.monotonic() + 30
        while record(fleet, env_id).owner_pid != survivor.pid:
            assert time.monotonic() < deadline, survivor.log()[-3000:]
            time.sleep(0.1)
        fleet_index.release()
        doc = wait_status(url, env_id)
        assert doc["status"] == "ready", doc
    finally:
        fleet_index.release()
    final = record(fleet, env_id)
    assert final.attempts == 2 and final.owner_pid == survivor.pid
    artifact = httpx.get(f"{url}/v1/environments/{env_id}/artifact", timeout=30)
    assert hashlib.sha256(artifact.content).hexdigest() == doc["sha256"]
    assert builds_started(fleet, env_id) == 2  # the killed one and the survivor's, one at a time
    # The killed build left nothing that looks like an artifact.
    killed_artifacts = fleet.root / victim.kind / "cache" / "environments-v1"
    assert not killed_artifacts.exists() or not any(killed_artifacts.glob("*.tar.zst"))


def test_a_record_created_while_the_broker_is_down_is_published_by_the_relay(
    fleet: Fleet, rabbitmq_url: str
) -> None:
    gate = TcpGate(5672)  # closed: the API node cannot reach the broker
    gated_url = rabbitmq_url.replace("127.0.0.1:5672", f"127.0.0.1:{gate.port}")
    assert gated_url != rabbitmq_url
    api, url = fleet.api(VENVD_QUEUE_URL=gated_url, VENVD_QUEUE_SWEEP_SECONDS="1")
    fleet.worker()
    try:
        started = time.monotonic()
        response = httpx.post(f"{url}/v1/environments",
                              json={"requirements": ["tool"], "target": LINUX_311}, timeout=60)
        assert response.status_code == 202, response.text
        assert time.monotonic() - started < 15  # the request does not hang on the broker
        env_id = response.json()["id"]
        time.sleep(3)
        # The relay claims a record (compare-and-set on published_at) before it publishes, and
        # gives the claim back when the broker refuses: read between two of its rounds.
        deadline = time.monotonic() + 10
        queued = record(fleet, env_id)
        while queued.published_at is not None and time.monotonic() < deadline:
            time.sleep(0.02)
            queued = record(fleet, env_id)
        assert queued.status == "queued" and queued.published_at is None, queued
        assert builds_started(fleet, env_id) == 0
        assert "not published" in api.log()

        gate.open()
        doc = wait_status(url, env_id, timeout=60)
        assert doc["status"] == "ready", doc
        assert record(fleet, env_id).published_at is not None
        assert builds_started(fleet, env_id) == 1
    finally:
        gate.close()
