"""The fleet as deployed, every part real and in its own process: two `venvd serve` API nodes and two
`venvd worker` processes with separate data dirs, one PostgreSQL store, RabbitMQ, an S3-API server
(moto), tokens required (tests/fleet/_topology_support.py draws the index).

- tokens: none → 401, a read token creating an environment → 403;
- identical concurrent requests to both API nodes → one environment, one build;
- built by a worker, requested through node A, `venvd create` through node B: the venv imports it;
- kill -9 of the worker running a slow sdist build → the other worker completes it;
- `venvd gc --max-size 0` while clients download through both nodes → every download is the right
  bytes or a clean retryable error; then the environment is rebuilt byte-identical.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fleet import _topology_support as support
from tests.fleet._topology_support import HAS_WORKERS, LINUX_311, SLOW_BUILD_SECONDS, Topology
from venvd.client._http import HttpClient
from venvd.errors import VenvdError

# The suite's fixtures, collected by pytest from this module's globals.
moto_endpoint = support.moto_endpoint
topology = support.topology

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

needs_workers = pytest.mark.skipif(not HAS_WORKERS, reason="this tree has no `venvd worker`")


def _ready(topo: Topology, requirements: list[str], node: int = 0,
           target: dict[str, Any] | None = None) -> dict[str, Any]:
    with topo.client(topo.apis[node]) as http:
        answer = http.post("/v1/environments",
                           json={"requirements": requirements, "target": target or LINUX_311})
    assert answer.status_code in (200, 202), answer.text
    doc = topo.wait_status(topo.apis[node], answer.json()["id"])
    assert doc["status"] == "ready", doc
    return doc


def test_tokens_none_is_401_and_read_cannot_build(topology: Topology) -> None:
    body = {"requirements": ["lib"], "target": LINUX_311}
    for node in topology.apis:
        with topology.client(node, None) as anonymous:
            for method, path in (("POST", "/v1/resolve"), ("POST", "/v1/environments"),
                                 ("GET", "/metrics")):
                answer = anonymous.request(method, path, json=body if method == "POST" else None)
                assert answer.status_code == 401, answer.text
                assert answer.json()["error"]["code"] == "unauthorized"
                assert answer.headers["WWW-Authenticate"].startswith("Bearer")
            assert anonymous.get("/v1/health").status_code == 200
        with topology.client(node, "read") as reader:
            assert reader.post("/v1/resolve", json=body).status_code == 200
            denied = reader.post("/v1/environments", json=body)
            assert denied.status_code == 403, denied.text
            assert denied.json()["error"]["code"] == "forbidden"
        with httpx.Client(base_url=node.url, timeout=30,
                          headers={"Authorization": "Bearer venvd_not-a-token"}) as forged:
            assert forged.post("/v1/resolve", json=body).status_code == 401
    # The CLI as a client: one line, exit 4, no traceback.
    result = topology.venvd("resolve", "lib", "--python", "3.11", "--platform",
                            "manylinux_2_28_x86_64", "--server", topology.apis[1].url)
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.startswith("venvd: error:")


def test_identical_concurrent_requests_to_both_nodes_build_once(topology: Topology) -> None:
    body = {"requirements": ["app"], "target": LINUX_311}
    clients = [topology.client(node) for node in topology.apis]
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: clients[i % 2].post("/v1/environments", json=body),
                                    range(8)))
    finally:
        for client in clients:
            client.close()
    assert all(a.status_code in (200, 202) for a in answers), [a.text for a in answers]
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 1, ids
    env_id = ids.pop()
    assert sum(a.json()["created"] for a in answers) == 1
    doc = topology.wait_status(topology.apis[1], env_id)
    assert doc["status"] == "ready", doc
    if HAS_WORKERS:
        record = topology.record(env_id)
        assert record.owner_pid in {w.pid for w in topology.workers}
        assert record.attempts == 1
        assert topology.builds_started(env_id) == 1
    # Both nodes serve the one artifact (from S3: neither node built it).
    for node in topology.apis:
        with topology.client(node, "read") as http:
            artifact = http.get(f"/v1/environments/{env_id}/artifact")
        assert artifact.status_code == 200
        assert hashlib.sha256(artifact.content).hexdigest() == doc["sha256"]


def test_built_through_one_node_created_through_the_other(topology: Topology,
                                                          tmp_path: Path) -> None:
    from venvd.cli._env import describe_interpreter

    api_b = topology.apis[1]
    # Requested through node A for this interpreter, as `venvd create` will ask for it.
    target = describe_interpreter(sys.executable)
    first = _ready(topology, ["tool"], node=0, target=target)
    if HAS_WORKERS:
        assert topology.record(first["id"]).owner_pid in {w.pid for w in topology.workers}
    dest = tmp_path / "venv"
    result = topology.venvd("create", str(dest), "tool", "--server", api_b.url,
                            token=topology.tokens["build"])
    assert result.returncode == 0, result.stderr
    assert f"environment {first['id'][:12]}" in result.stderr  # the same one: no second build
    python = dest / "bin" / "python"
    out = subprocess.run([str(python), "-c", "import tool; tool.main()"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0 and out.stdout == "hello\n", out.stderr
    script = subprocess.run([str(dest / "bin" / "tool-hello")], capture_output=True, text=True,
                            timeout=60, check=False)
    assert script.stdout == "hello\n", script.stderr
    if HAS_WORKERS:
        assert topology.builds_started(first["id"]) == 1


@needs_workers
def test_a_worker_killed_mid_build_is_completed_by_the_other(topology: Topology) -> None:
    with topology.client(topology.apis[0]) as http:
        answer = http.post("/v1/environments",
                           json={"requirements": ["slowpoke"], "target": LINUX_311})
    assert answer.status_code == 202, answer.text
    env_id = answer.json()["id"]
    # A client of the other node follows the build's events (pushed by PostgreSQL NOTIFY).
    followed: list[dict[str, Any]] = []
    follower_client = HttpClient(topology.apis[1].url, token=topology.tokens["read"],
                                 wait_timeout=SLOW_BUILD_SECONDS * 6)

    def follow() -> None:
        with contextlib.suppress(Exception):  # a failure shows as missing events
            followed.extend(follower_client.events(env_id))

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    workers = {w.pid: w for w in topology.workers}
    deadline = time.monotonic() + 30
    while True:
        record = topology.record(env_id)
        if record.status == "building" and record.owner_pid in workers:
            break
        assert time.monotonic() < deadline, record
        time.sleep(0.1)
    victim = workers.pop(record.owner_pid)
    (survivor,) = workers.values()
    # Into the sdist build (it sleeps SLOW_BUILD_SECONDS): kill -9 the worker and its children.
    time.sleep(1.5)
    assert topology.record(env_id).status == "building"
    victim.kill()
    doc = topology.wait_status(topology.apis[1], env_id, timeout=SLOW_BUILD_SECONDS * 6)
    assert doc["status"] == "ready", doc
    follower.join(timeout=10)  # the end of the build reaches the event stream at once
    follower_client.close()
    assert not follower.is_alive(), f"the event stream never told the end: {followed}"
    assert followed and followed[-1]["status"] == "ready", followed
    final = topology.record(env_id)
    assert final.owner_pid == survivor.pid and final.attempts == 2, final
    with topology.client(topology.apis[1], "read") as http:
        artifact = http.get(f"/v1/environments/{env_id}/artifact")
    assert hashlib.sha256(artifact.content).hexdigest() == doc["sha256"]
    # The killed build left no artifact anywhere: not in its data dir, one in S3.
    killed = topology.root / victim.name / "cache" / "environments-v1"
    assert not killed.exists() or not any(killed.glob("*.tar.zst"))


def test_gc_while_clients_download_through_both_nodes(topology: Topology, tmp_path: Path) -> None:
    doc = _ready(topology, ["big", "app"], node=1)
    with topology.client(topology.apis[0], "read") as http:
        original = http.get(f"/v1/environments/{doc['id']}/artifact").content
    assert hashlib.sha256(original).hexdigest() == doc["sha256"]

    results: list[str] = []
    clean: list[VenvdError] = []
    dirty: list[BaseException] = []
    lock = threading.Lock()
    stop = threading.Event()

    def downloader(n: int) -> None:
        node = topology.apis[n % 2]
        client = HttpClient(node.url, token=topology.tokens["read"], stream_read_timeout=30,
                            wait_timeout=60)
        try:
            i, deadline = 0, time.monotonic() + 60
            while not stop.is_set() and time.monotonic() < deadline:
                dest = tmp_path / f"dl-{n}-{i}.tar.zst"
                i += 1
                try:
                    info = client.download(doc["id"], dest)
                    digest = hashlib.sha256(dest.read_bytes()).hexdigest()
                    assert info["sha256"] == digest == doc["sha256"]
                    assert dest.stat().st_size == doc["size"]
                    with lock:
                        results.append(digest)
                except VenvdError as exc:  # a clean error, which the client's rerun retries
                    with lock:
                        clean.append(exc)
                    time.sleep(0.2)
                except BaseException as exc:  # anything else, a wrong file included, fails
                    with lock:
                        dirty.append(exc)
                dest.unlink(missing_ok=True)
                # Gaps between a client's downloads: a download in flight leases the artifact (GC
                # keeps it), so GC collects it only when no client is mid-download.
                time.sleep(random.uniform(0.3, 0.9))
        finally:
            client.close()

    threads = [threading.Thread(target=downloader, args=(n,), daemon=True) for n in range(4)]
    for thread in threads:
        thread.start()
    collected = 0
    try:
        for passes in range(1, 9):  # until GC collected the artifact twice (bounded)
            gc = topology.venvd("gc", "--max-size", "0", "--min-age", "0", "--json")
            assert gc.returncode == 0, gc.stderr
            assert all(t.is_alive() for t in threads)  # the downloads ran during the GC
            collected += sum(1 for report in json.loads(gc.stdout) for key in report["keys"]
                             if key.startswith("environments-v1/"))
            if collected >= 2 and passes >= 3:
                break
    finally:
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join(timeout=90)
    assert not any(t.is_alive() for t in threads), "a download hung"
    print(f"{passes} gc passes collected the artifact {collected} times; {len(results)} downloads, "
          f"{len(clean)} clean errors")
    assert collected >= 1, "GC never collected the artifact"
    assert dirty == [], dirty
    assert results and set(results) == {doc["sha256"]}
    assert all(exc.code == "not_found" for exc in clean), clean
    assert not list(tmp_path.glob("dl-*.part")), "a truncated download was left behind"

    # The client followed each rebuild (404 with details.building) and downloaded again.
    if HAS_WORKERS:
        assert topology.builds_started(doc["id"]) >= 2, "the collected artifact was never rebuilt"
    # GC has stopped: the environment is rebuilt, byte-identical, and downloads through both nodes.
    for node in topology.apis:
        client = HttpClient(node.url, token=topology.tokens["read"], wait_timeout=90)
        dest = tmp_path / f"after-{node.name}.tar.zst"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    client.download(doc["id"], dest)
                    break
                except VenvdError as exc:
                    assert exc.code == "not_found" and time.monotonic() < deadline, exc
                    topology.wait_status(node, doc["id"], timeout=90)
                    time.sleep(0.2)
        finally:
            client.close()
        assert dest.read_bytes() == original
