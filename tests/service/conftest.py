"""A small world of real packages on a real local index, and services over it.

app 1.0 ──▶ lib>=1 ──▶ (lib 2.0 needs Python >=3.8; lib 1.0 is py2.py3)
    └────▶ legacy; python_version < "3"   (only a py2 wheel)
tool 1.0   console script `tool-hello`, data file
left 1.0 ──▶ shared<2      right 1.0 ──▶ shared>=2      (a conflict when both asked)
built 1.0  sdist only (built by its in-sdist backend)
broken 1.0 sdist only, whose build fails
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.dists import make_sdist, make_wheel
from tests.support.index_server import LocalIndex
from venvd.service import Service, Settings


@pytest.fixture
def world(local_index: Callable[..., LocalIndex], tmp_path: Path) -> LocalIndex:
    index = local_index()
    src = tmp_path / "src"
    index.add(
        make_wheel(
            src,
            "app",
            "1.0",
            tag="py2.py3-none-any",
            requires_dist=["lib>=1", 'legacy; python_version < "3"'],
        )
    )
    index.add(make_wheel(src, "lib", "1.0", tag="py2.py3-none-any"))
    index.add(make_wheel(src, "lib", "2.0", requires_python=">=3.8"), requires_python=">=3.8")
    index.add(make_wheel(src, "legacy", "1.0", tag="py2-none-any"))
    index.add(
        make_wheel(
            src,
            "tool",
            "1.0",
            console_scripts={"tool-hello": "tool:main"},
            files={"tool/__init__.py": "def main():\n    print('hello from tool')\n"},
            data={"data/share/tool/readme.txt": "tool data\n"},
        )
    )
    index.add(make_wheel(src, "left", "1.0", requires_dist=["shared<2"]))
    index.add(make_wheel(src, "right", "1.0", requires_dist=["shared>=2"]))
    index.add(make_wheel(src, "shared", "1.0"))
    index.add(make_wheel(src, "shared", "2.0"))
    index.add(make_sdist(src, "built", "1.0"))
    index.add(make_sdist(src, "broken", "1.0", fail="missing compiler"))
    return index


def postgres_url() -> str:
    return os.environ.get(
        "VENVD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    opened: list[Service] = []

    def make(index: LocalIndex, **overrides: object) -> Service:
        values: dict[str, object] = {
            "data_dir": tmp_path / f"data-{len(opened)}",
            "index_url": index.url,
            "http_retries": 1,
        }
        values.update(overrides)
        service = Service.open(Settings(**values))  # type: ignore[arg-type]
        opened.append(service)
        return service

    yield make
    for service in opened:
        service.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """None (the embedded SQLite default) or an isolated PostgreSQL schema."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


class ApiServer:
    """The real app on a real uvicorn server in a thread, on a free loopback port."""

    def __init__(self, service: Service) -> None:
        import socket
        import threading

        import uvicorn

        from venvd.api import create_app

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        config = uvicorn.Config(
            create_app(service), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{port}"
        import time

        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def api(make_service: Callable[..., Service]) -> Iterator[Callable[..., httpx.Client]]:
    """`api(index, **settings)`: an httpx client talking to a real server over that index."""
    servers: list[ApiServer] = []
    clients: list[httpx.Client] = []

    def make(index: LocalIndex, **overrides: object) -> httpx.Client:
        server = ApiServer(make_service(index, **overrides))
        servers.append(server)
        client = server.client()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
    for server in servers:
        server.stop()
