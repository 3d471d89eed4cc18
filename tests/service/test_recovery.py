"""A server killed mid-build: after a restart the build is taken over at once (not after the stale
timeout), and temporary files nobody writes any more are removed. A stopping server does not wait
for its open progress streams."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.service.proxy import FaultProxy
from tests.support.index_server import LocalIndex
from tests.support.ports import free_port
from tests.support.serving import wait_healthy
from venvd.service import Service
from venvd.store import Store, sqlite_url_for

LINUX_311 = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}




@contextmanager
def serve(
    data_dir: Path, index_url: str, port: int | None = None, **env: str
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`venvd serve` in a subprocess on loopback (a free port unless given); killed at exit if
    still running."""
    port = port or free_port()
    full_env = {**os.environ, "VENVD_DATA_DIR": str(data_dir), **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "venvd", "serve", "--port", str(port), "--index-url", index_url,
         "--log-level", "warning"],
        env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, url, lambda: proc.stderr.read() if proc.stderr else "")
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=20)
        if proc.stderr:
            proc.stderr.close()


def _status(url: str, env_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = httpx.get(f"{url}/v1/environments/{env_id}", timeout=10).json()
    return doc


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_build_killed_with_its_server_is_taken_over_at_restart(
    world: LocalIndex, tmp_path: Path
) -> None:
    index = FaultProxy(world.base_url).start()
    # Wheel downloads wait: the build is in its fetch step when the server is killed.
    index.hold(lambda path: path.endswith(".whl"))
    data = tmp_path / "data"
    try:
        with serve(data, index.url + "/simple/") as (proc, url):
            response = httpx.post(
                f"{url}/v1/environments",
                json={"requirements": ["tool"], "target": LINUX_311},
                timeout=60,
            )
            assert response.status_code == 202, response.text
            env_id = response.json()["id"]
            deadline = time.monotonic() + 30
            while not index.requests_to(".whl"):
                assert time.monotonic() < deadline, "the build never fetched its wheel"
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=20)
        with Store.open(sqlite_url_for(data)) as store:
            record = store.get_environment(env_id)
        assert record is not None and record.status in ("queued", "building")
        assert record.owner_pid == proc.pid and record.owner_token

        # Leftovers of dead writers (old) and of a live one (fresh) in the caches and tmp.
        wheels = data / "cache" / "wheels-v1"
        wheels.mkdir(parents=True, exist_ok=True)
        old_file = wheels / ".tmp-0123456789abcdef-dead.whl"
        fresh_file = wheels / ".tmp-fedcba9876543210-live.whl"
        old_part = wheels / ".dead-1.0-py3-none-any.whl.k3j4h5.part"
        kept = wheels / "ab" / "kept.whl"
        kept.parent.mkdir()
        old_dir = data / "tmp" / "venvd-sdist-dead"
        for path in (old_file, fresh_file, old_part, kept):
            path.write_bytes(b"partial")
        (old_dir / "pkg").mkdir(parents=True)
        (old_dir / "pkg" / "setup.py").write_text("")
        for path in (old_file, old_part, kept, old_dir / "pkg" / "setup.py", old_dir / "pkg", old_dir):
            _age(path, 3600)

        index.release()
        with serve(data, index.url + "/simple/") as (_, url):
            deadline = time.monotonic() + 60
            doc = _status(url, env_id)
            while doc["status"] not in ("ready", "failed"):
                assert time.monotonic() < deadline, (
                    f"the interrupted build was not taken over: {doc['status']} {doc['progress']}"
                )
                time.sleep(0.1)
                doc = _status(url, env_id)
            assert doc["status"] == "ready", doc
            artifact = httpx.get(f"{url}/v1/environments/{env_id}/artifact", timeout=30)
            assert artifact.status_code == 200
            deadline = time.monotonic() + 10
            leftovers = (old_file, old_part, old_dir)
            while any(p.exists() for p in leftovers) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not any(p.exists() for p in leftovers)
            assert fresh_file.exists() and kept.exists()  # a live writer's, and a cached wheel
    finally:
        index.stop()


def test_sigterm_stops_a_server_with_open_progress_streams(
    world: LocalIndex, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env_id = "c" * 64
    with Store.open(sqlite_url_for(data)) as store:
        store.create_environment(env_id, "lock", "target", status="building")
    with serve(data, world.url) as (proc, url):
        clients = [httpx.Client(base_url=url, timeout=10) for _ in range(8)]
        streams = []
        for client in clients:
            response = client.send(
                client.build_request("GET", f"/v1/environments/{env_id}/events"), stream=True
            )
            lines = response.iter_lines()
            assert next(line for line in lines if line.startswith("data:"))
            streams.append((response, lines))
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert time.monotonic() - started < 5
        for response, _ in streams:
            response.close()
        for client in clients:
            client.close()


def test_a_build_of_a_closed_service_is_taken_over_by_the_next_request(
    world: LocalIndex, make_service: Callable[..., Service], tmp_path: Path
) -> None:
    index = FaultProxy(world.base_url).start()
    index.hold(lambda path: path.endswith(".whl"))
    shared = {"database_url": sqlite_url_for(tmp_path / "shared"), "requeue_interrupted": False}
    body = {"requirements": ["tool"], "target": LINUX_311}
    try:
        first = make_service(world, index_url=index.url + "/simple/", **shared)
        env_id = first.environments.create_from_json(body)["id"]
        deadline = time.monotonic() + 30
        while not index.requests_to(".whl"):
            assert time.monotonic() < deadline, "the build never fetched its wheel"
            time.sleep(0.05)
        first.owner.release()  # as when its Service is closed: nobody builds it any more

        second = make_service(world, index_url=index.url + "/simple/", **shared)
        doc = second.environments.create_from_json(body)
        assert doc["id"] == env_id and doc["created"] is False
        assert doc["progress"]["step"] == "interrupted", doc["progress"]
        record = second.store.get_environment(env_id)
        assert record is not None and record.owner_token == second.owner.token
        index.release()
        assert second.environments.wait(env_id, timeout=60)["status"] == "ready"
    finally:
        index.stop()


def test_venvd_create_rides_out_a_server_killed_and_restarted_mid_build(
    world: LocalIndex, tmp_path: Path
) -> None:
    index = FaultProxy(world.base_url).start()
    index.hold(lambda path: path.endswith(".whl"))
    data, port, dest = tmp_path / "data", free_port(), tmp_path / "env"
    env = {**os.environ, "VENVD_DATA_DIR": str(tmp_path / "client-data")}
    env.pop("VENVD_SERVER", None)
    try:
        with serve(data, index.url + "/simple/", port=port) as (proc, url):
            create = subprocess.Popen(
                [sys.executable, "-m", "venvd", "create", str(dest), "tool", "--server", url],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            deadline = time.monotonic() + 60
            while not index.requests_to(".whl"):
                assert time.monotonic() < deadline, "the build never fetched its wheel"
                assert create.poll() is None, create.communicate()
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=20)
        index.release()
        with serve(data, index.url + "/simple/", port=port):
            _, err = create.communicate(timeout=120)
        assert create.returncode == 0, err
        hello = subprocess.run([str(dest / "bin" / "tool-hello")], capture_output=True, text=True)
        assert hello.stdout.strip() == "hello from tool"
    finally:
        index.stop()
