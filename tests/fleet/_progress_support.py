"""Two API nodes on one store, SSE readers, and a count of store queries.

Fixtures here are imported by the test modules that use them (tests/fleet/conftest.py is shared
with other suites):

    from tests.fleet._progress_support import nodes, pg_nodes, tiny_world  # noqa: F401 (fixtures)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.service.conftest import ApiServer
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.service import Service, Settings


@pytest.fixture
def tiny_world(local_index: Callable[..., LocalIndex], tmp_path: Path) -> LocalIndex:
    """app 1.0 ──▶ lib>=1 (two pure wheels)."""
    index = local_index()
    src = tmp_path / "src"
    index.add(make_wheel(src, "app", "1.0", requires_dist=["lib>=1"]))
    index.add(make_wheel(src, "lib", "1.0"))
    return index


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def nodes(request: pytest.FixtureRequest, tiny_world: LocalIndex,
          tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """`nodes(**settings)`: one more Service (an API node's) on the test's one store, with a
    data dir of its own: a fresh PostgreSQL schema shared by the nodes, or one SQLite file."""
    database_url = (request.getfixturevalue("postgres_url") if request.param == "postgres"
                    else f"sqlite:///{tmp_path / 'shared.sqlite3'}")
    yield from _nodes(database_url, tiny_world, tmp_path)


@pytest.fixture
def pg_nodes(postgres_url: str, tiny_world: LocalIndex,
             tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """`nodes` on PostgreSQL only (mark the test `postgres`), with no other test's resolutions
    (see `forget_resolutions`)."""
    from tests.support.postgres import forget_resolutions

    forget_resolutions(postgres_url)
    yield from _nodes(postgres_url, tiny_world, tmp_path)


def _nodes(database_url: str, index: LocalIndex,
           tmp_path: Path) -> Iterator[Callable[..., Service]]:
    opened: list[Service] = []

    def make(**overrides: Any) -> Service:
        values: dict[str, Any] = {
            "data_dir": tmp_path / f"node-{len(opened)}",
            "database_url": database_url,
            "index_url": index.url,
            "http_retries": 1,
            "requeue_interrupted": False,
            **overrides,
        }
        service = Service.open(Settings(**values))
        opened.append(service)
        return service

    yield make
    for service in opened:
        service.close()


class QueryCounter:
    """Counts the statements a store's engine sends that read or write `table`."""

    def __init__(self, service: Service, table: str = "environments") -> None:
        self._engine: sa.Engine = service.store._engine
        self._table = table
        self._count = 0
        self._lock = threading.Lock()
        sa.event.listen(self._engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self._table in statement:
            with self._lock:
                self._count += 1

    def take(self) -> int:
        """The count since the last take."""
        with self._lock:
            count, self._count = self._count, 0
        return count

    def close(self) -> None:
        sa.event.remove(self._engine, "before_cursor_execute", self._seen)


class SseReader:
    """A thread reading one `/v1/environments/{id}/events` stream: each event as it arrives,
    with the monotonic time it arrived at."""

    def __init__(self, base_url: str, env_id: str) -> None:
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.opened = threading.Event()
        self.error: BaseException | None = None
        self._url = f"{base_url}/v1/environments/{env_id}/events"
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=30))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with self._client.stream("GET", self._url) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        self.events.append((time.monotonic(), json.loads(line[5:])))
                        self.opened.set()
        except BaseException as exc:  # reported by the test through `error`
            if not self._client.is_closed:
                self.error = exc
        finally:
            self.opened.set()

    def arrival(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> float:
        """When the first event matching `predicate` arrived (waiting up to `timeout` s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, event in list(self.events):
                if predicate(event):
                    return at
            time.sleep(0.01)
        raise AssertionError(f"no matching event in {timeout} s; got {self.statuses()}")

    def statuses(self) -> list[str]:
        return [event["status"] for _, event in self.events]

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def close(self) -> None:
        self._client.close()
        self._thread.join(5)


def wait_until_listening(server: ApiServer, timeout: float = 10) -> None:
    """Wait until the server's progress hub listens for notifications (PostgreSQL)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hub = getattr(server.server.config.app.state, "progress_hub", None)
        listener = getattr(hub, "_listener", None)
        if listener is not None and listener.listening.is_set():
            return
        time.sleep(0.02)
    raise AssertionError(f"the progress hub did not listen within {timeout} s")


def serve(service: Service) -> ApiServer:
    """`service` behind a real uvicorn server on a loopback port (stop it with `.stop()`)."""
    return ApiServer(service)
