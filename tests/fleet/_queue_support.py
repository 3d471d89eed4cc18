"""Fixtures for the build-queue tests: the real RabbitMQ (a unique queue per test, deleted at the end),
a fresh PostgreSQL schema per test, `venvd serve` and `venvd worker` subprocesses on loopback, and a
TCP gate in front of the broker that can be closed and opened (a broker outage for one process).

Unreachable RabbitMQ or PostgreSQL: the tests skip with the reason, except in CI (CI=true), where it
is a failure.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.proxy import FaultProxy
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from tests.support.ports import free_port
from tests.support.postgres import postgres_schema

__all__ = [
    "Fleet", "TcpGate", "fleet", "fleet_database_url", "fleet_index", "rabbitmq_url",
    "unique_queue",
]

LINUX_311 = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}


def _unreachable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def rabbitmq_url() -> Iterator[str]:
    """``VENVD_TEST_QUEUE_URL`` (default: the local RabbitMQ, guest/guest), checked reachable.
    At the end, the broker connections kombu pools process-wide are closed."""
    url = os.environ.get("VENVD_TEST_QUEUE_URL", "amqp://guest:guest@127.0.0.1:5672//")
    from kombu import Connection, pools

    try:
        with Connection(url, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        _unreachable(f"RabbitMQ is not reachable at {url.split('@')[-1]}: {exc}")
    yield url
    pools.reset()


@pytest.fixture
def unique_queue(rabbitmq_url: str) -> Iterator[str]:
    """A queue name of this test alone; the queue is deleted at the end (leftovers never leak
    into another run)."""
    name = f"venvd-test-{uuid.uuid4().hex[:12]}"
    yield name
    from venvd.queue import BuildQueue

    queue = BuildQueue(rabbitmq_url, name)
    try:
        queue.purge_and_delete()
    finally:
        queue.close()


@pytest.fixture
def fleet_database_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for this test alone (dropped at the end)."""
    import sqlalchemy as sa

    base = os.environ.get(
        "VENVD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_schema(base, "venvd_fleet"))
        except sa.exc.OperationalError as exc:
            _unreachable(f"PostgreSQL is not reachable: {exc.orig}")
        yield url


@pytest.fixture
def fleet_index(local_index: Callable[..., LocalIndex], tmp_path: Path) -> Iterator[FaultProxy]:
    """A small index (wheels only: builds take a fraction of a second) behind a fault proxy, so a
    test can hold wheel downloads to keep a build running.

    tool 1.0 (console script) ; app 1.0 ──▶ lib>=1 ; lib 1.0 ; solo 1.0
    """
    index = local_index()
    src = tmp_path / "dists"
    index.add(make_wheel(src, "tool", "1.0", console_scripts={"tool-hello": "tool:main"},
                         files={"tool/__init__.py": "def main():\n    print('hello')\n"}))
    index.add(make_wheel(src, "app", "1.0", requires_dist=["lib>=1"]))
    index.add(make_wheel(src, "lib", "1.0"))
    index.add(make_wheel(src, "solo", "1.0"))
    proxy = FaultProxy(index.base_url).start()
    yield proxy
    proxy.stop()




class Process:
    """A venvd subprocess whose stderr goes to a log file (read by the tests)."""

    def __init__(self, kind: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.kind = kind
        self.log_path = log
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "venvd", *argv],
            env=env, stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True,
        )
        self.pid = self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.kind} exited {self.proc.returncode}:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.kind} never logged {text!r}:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        """kill -9 (its whole process group: its build children too)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=20)

    def terminate(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)

    def stop(self, timeout: float = 5) -> None:
        """SIGTERM, then kill -9 after `timeout` seconds; a group whose leader already exited is
        killed (its build children may outlive it)."""
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        self._log.close()


class Fleet:
    """API nodes and workers of one test, sharing one store and one queue; all killed at the end."""

    def __init__(self, root: Path, database_url: str, queue_url: str, queue_name: str,
                 index_url: str) -> None:
        self.root = root
        self.database_url = database_url
        self.queue_url = queue_url
        self.queue_name = queue_name
        self.index_url = index_url
        self.processes: list[Process] = []

    def _env(self, name: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VENVD_")}
        env.update({
            "VENVD_DATA_DIR": str(self.root / name),
            "VENVD_DATABASE_URL": self.database_url,
            "VENVD_QUEUE_URL": self.queue_url,
            "VENVD_QUEUE_NAME": self.queue_name,
            "VENVD_INDEX_URL": self.index_url,
            "VENVD_HTTP_RETRIES": "1",
            # Artifacts built by a worker are served by the API nodes: one shared object store.
            "VENVD_OBJECT_STORE": str(self.root / "objects"),
            **extra,
        })
        return env

    def api(self, **extra: str) -> tuple[Process, str]:
        """A started `venvd serve` (its own data dir); its process and URL."""
        name = f"api-{len(self.processes)}"
        port = free_port()
        env = self._env(name, **extra)
        # The queue by its command-line options here (the workers take it from the environment).
        queue = ["--queue-url", env.pop("VENVD_QUEUE_URL"), "--queue-name",
                 env.pop("VENVD_QUEUE_NAME")] if "VENVD_QUEUE_URL" in env else []
        process = Process(name, ["serve", "--port", str(port), "--log-level", "warning", *queue],
                          env, self.root / f"{name}.log")
        self.processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                    return process, url
            except httpx.TransportError:
                pass
            if process.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{name} did not start:\n{process.log()[-3000:]}")
            time.sleep(0.1)

    def worker(self, **extra: str) -> Process:
        """A started `venvd worker` (its own data dir), consuming the queue."""
        name = f"worker-{len(self.processes)}"
        process = Process(name, ["worker", "--log-level", "info"], self._env(name, **extra),
                          self.root / f"{name}.log")
        self.processes.append(process)
        process.wait_for_log(" ready.")
        return process

    def workers(self) -> list[Process]:
        return [p for p in self.processes if p.kind.startswith("worker")]

    def stop(self) -> None:
        for process in self.processes:  # all at once: the stops overlap
            process.terminate()
        deadline = time.monotonic() + 5
        for process in self.processes:
            process.stop(timeout=max(0.1, deadline - time.monotonic()))


@pytest.fixture
def fleet(
    tmp_path: Path, fleet_database_url: str, rabbitmq_url: str, unique_queue: str,
    fleet_index: FaultProxy,
) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path / "fleet", fleet_database_url, rabbitmq_url, unique_queue,
                  fleet_index.url + "/simple/")
    (tmp_path / "fleet").mkdir()
    try:
        yield fleet
    finally:
        fleet.stop()


class TcpGate:
    """A TCP forwarder on a loopback port to an upstream port that can be closed (connections
    refused, open ones cut) and opened again on the same port: an outage of the broker as seen
    by one process."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def open(self) -> TcpGate:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()


def _pipe(a: socket.socket, b: socket.socket) -> None:
    sel = selectors.DefaultSelector()
    try:
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        while True:
            for key, _ in sel.select(timeout=1):
                src: Any = key.fileobj
                data = src.recv(65536)
                if not data:
                    return
                key.data.sendall(data)
    except (OSError, ValueError):
        return
    finally:
        sel.close()
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.close()
