"""The whole fleet on loopback, for tests/fleet/test_topology.py: two `venvd serve` API nodes and two
`venvd worker` processes (each with its own data dir), one PostgreSQL schema, RabbitMQ with a queue
of this run alone (deleted at the end), a real S3-API server (moto in server mode), the local test
index, and tokens made by `venvd token create`: every API node requires them (`--auth required`).

One topology serves the whole module (`topology`, module scope): starting six processes is most of
the suite's time on a small machine. Every process is killed at the end, whatever happened.

The index (every wheel carries this run's random marker, so no environment id of an earlier run in
the shared schema can repeat):

    app 1.0 ──▶ lib>=1 ; lib 1.0 ; tool 1.0 (console script `tool-hello`) ;
    big 1.0 (1.5 MB of random bytes) ; slowpoke 1.0 (an sdist whose build sleeps SLOW_BUILD_SECONDS)

Import the fixtures into the test module (tests/fleet has no conftest of ours):

    from tests.fleet._topology_support import moto_endpoint, topology  # noqa: F401
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fleet._objects_support import S3_ENV, free_port, moto_endpoint
from tests.fleet._queue_support import Process
from tests.sandbox.probe import probe_sdist
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from tests.support.postgres import forget_resolutions

__all__ = ["LINUX_311", "SLOW_BUILD_SECONDS", "Node", "Topology", "moto_endpoint", "topology"]

LINUX_311 = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}
SLOW_BUILD_SECONDS = 6
# Whether `venvd worker` and the queue exist in this tree (they come with the queue part).
HAS_WORKERS = importlib.util.find_spec("venvd.queue") is not None


class Node(Process):
    """One venvd subprocess in a session of its own (kill -9 takes its build children too); its
    stderr goes to a log file the tests read. `url` is an API node's."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        super().__init__(name, argv, env, log)
        self.url = ""

    @property
    def name(self) -> str:
        return self.kind

    def wait_http(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200:
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not start:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def stop(self, timeout: float = 10) -> None:
        super().stop(timeout)


class Topology:
    """The processes and shared services of one test module; `stop()` kills every process."""

    def __init__(self, root: Path, database_url: str, endpoint: str, index: LocalIndex,
                 queue_url: str, queue_name: str) -> None:
        self.root = root
        self.database_url = database_url
        self.endpoint = endpoint
        self.object_store = f"s3://venvd-topology-{secrets.token_hex(4)}/venvd"
        self.index = index
        self.queue_url = queue_url
        self.queue_name = queue_name
        self.tokens: dict[str, str] = {}
        self.apis: list[Node] = []
        self.workers: list[Node] = []

    # -- settings and the CLI ------------------------------------------------------------------
    def env(self, name: str, token: str | None = None, **extra: str) -> dict[str, str]:
        """The environment of a process `name` (its own data dir under root) of this topology."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("VENVD_")}
        env.update({
            **S3_ENV,
            "VENVD_DATA_DIR": str(self.root / name),
            "VENVD_DATABASE_URL": self.database_url,
            "VENVD_OBJECT_STORE": self.object_store,
            "VENVD_S3_ENDPOINT_URL": self.endpoint,
            "VENVD_INDEX_URL": self.index.url,
            "VENVD_HTTP_RETRIES": "1",
            "VENVD_REQUEUE_INTERRUPTED": "false",
        })
        if os.environ.get("VENVD_UNSAFE_BUILDS"):  # no bubblewrap here (tests/conftest.py)
            env["VENVD_UNSAFE_BUILDS"] = os.environ["VENVD_UNSAFE_BUILDS"]
        if self.queue_url:
            env.update({"VENVD_QUEUE_URL": self.queue_url, "VENVD_QUEUE_NAME": self.queue_name})
        if token:
            env["VENVD_TOKEN"] = token
        env.update(extra)
        return env

    def venvd(self, *args: str, token: str | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """The `venvd` CLI as an operator or a client runs it, on this topology's settings."""
        return subprocess.run([sys.executable, "-m", "venvd", *args], capture_output=True, text=True,
                              env=self.env("cli", token), timeout=timeout, check=False)

    def create_token(self, scope: str) -> str:
        result = self.venvd("token", "create", "--scope", scope, "--json",
                            "--name", f"topology-{scope}-{secrets.token_hex(4)}")
        assert result.returncode == 0, result.stderr
        token: str = json.loads(result.stdout)["token"]
        self.tokens[scope] = token
        return token

    # -- processes -----------------------------------------------------------------------------
    def start_api(self) -> Node:
        name = f"api-{len(self.apis)}"
        port = free_port()
        node = Node(name, ["serve", "--port", str(port), "--auth", "required",
                           "--log-level", "warning"], self.env(name), self.root / f"{name}.log")
        node.url = f"http://127.0.0.1:{port}"
        self.apis.append(node)
        node.wait_http()
        return node

    def start_worker(self) -> Node:
        name = f"worker-{len(self.workers)}"
        node = Node(name, ["worker", "--log-level", "info", "--build-workers", "1"],
                    self.env(name), self.root / f"{name}.log")
        self.workers.append(node)
        node.wait_for_log(" ready.")
        return node

    def stop(self) -> None:
        for node in [*self.apis, *self.workers]:
            node.stop()

    # -- reading the shared state --------------------------------------------------------------
    def client(self, node: Node, scope: str | None = "build") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[scope]}"} if scope else {}
        return httpx.Client(base_url=node.url, headers=headers, timeout=60)

    def wait_status(self, node: Node, env_id: str, timeout: float = 60,
                    statuses: tuple[str, ...] = ("ready", "failed")) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        doc: dict[str, Any] = {}
        with self.client(node, "read") as http:
            while time.monotonic() < deadline:
                doc = http.get(f"/v1/environments/{env_id}").json()
                if doc.get("status") in statuses:
                    return doc
                time.sleep(0.1)
        raise AssertionError(f"environment {env_id} never got {statuses} in {timeout} s: {doc}")

    def record(self, env_id: str) -> Any:
        from venvd.store import Store

        with Store.open(self.database_url) as store:
            found = store.get_environment(env_id)
        assert found is not None, env_id
        return found

    def builds_started(self, env_id: str) -> int:
        """Builds of `env_id` the workers started, from their logs."""
        return sum(w.log().count(f"building environment {env_id} ") for w in self.workers)


def _topology_index(root: Path) -> LocalIndex:
    marker = uuid.uuid4().hex
    index = LocalIndex(root / "index").start()
    src = root / "dists"

    def module(name: str, body: str = "") -> dict[str, str | bytes]:
        return {f"{name}/__init__.py": f"RUN = {marker!r}\n{body}"}

    index.add(make_wheel(src, "app", "1.0", requires_dist=["lib>=1"], files=module("app")))
    index.add(make_wheel(src, "lib", "1.0", files=module("lib")))
    index.add(make_wheel(src, "tool", "1.0", console_scripts={"tool-hello": "tool:main"},
                         files=module("tool", "def main():\n    print('hello')\n")))
    index.add(make_wheel(src, "big", "1.0",
                         files={**module("big"), "big/blob.bin": os.urandom(1_500_000)}))
    index.add(probe_sdist(src, f"import time\ntime.sleep({SLOW_BUILD_SECONDS})\nreturn {marker!r}",
                          name="slowpoke", metadata_version="2.2"))
    return index


def _delete_queue(url: str, name: str) -> None:
    from kombu import Connection

    with Connection(url, connect_timeout=5) as conn, contextlib.suppress(Exception):
        conn.default_channel.queue_delete(name)


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory, postgres_url: str,
             moto_endpoint: str, rabbitmq_url: str) -> Iterator[Topology]:
    """Tokens (read, build, admin), two API nodes and, when this tree has them, two workers."""
    root = tmp_path_factory.mktemp("topology")
    queue_url = rabbitmq_url if HAS_WORKERS else ""
    queue_name = f"venvd-topology-{uuid.uuid4().hex[:12]}"
    index = _topology_index(root)
    topo = Topology(root, postgres_url, moto_endpoint, index, queue_url, queue_name)
    try:
        with pytest.MonkeyPatch.context() as env:
            for name, value in S3_ENV.items():
                env.setenv(name, value)
            from venvd.objects._s3 import S3ObjectStore

            S3ObjectStore(topo.object_store.rsplit("/", 1)[0],
                          endpoint_url=moto_endpoint).ensure_bucket()
        forget_resolutions(postgres_url)
        for scope in ("read", "build", "admin"):
            topo.create_token(scope)
        topo.start_api()
        topo.start_api()
        if HAS_WORKERS:
            topo.start_worker()
            topo.start_worker()
        yield topo
    finally:
        topo.stop()
        index.stop()
        if queue_url:
            _delete_queue(queue_url, queue_name)
