"""A real venvd server acting as a package index over a real local upstream index.

upstream (tests/support/index_server.py):
    app 1.0 ──▶ lib>=1        lib 1.0 (py2.py3), lib 2.0 (Requires-Python >=3.8)
    built 1.0                 an sdist only: the server builds a wheel of it for its own platform
    gone 1.0, gone 1.1        1.1 yanked ("broken release")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import ApiServer
from tests.support.dists import make_sdist, make_wheel
from tests.support.environments import wait_finished
from tests.support.index_server import LocalIndex
from venvd.service import Service, Settings

LINUX_311 = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}


@pytest.fixture
def upstream(local_index: Callable[..., LocalIndex], tmp_path: Path) -> LocalIndex:
    index = local_index()
    src = tmp_path / "src"
    index.add(make_wheel(src, "app", "1.0", tag="py2.py3-none-any", requires_dist=["lib>=1"]))
    index.add(make_wheel(src, "lib", "1.0", tag="py2.py3-none-any"))
    index.add(make_wheel(src, "lib", "2.0", requires_python=">=3.8"), requires_python=">=3.8")
    index.add(make_sdist(src, "built", "1.0"))
    index.add(make_wheel(src, "gone", "1.0"))
    index.add(make_wheel(src, "gone", "1.1"), yanked="broken release")
    return index


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None (the embedded SQLite default) or an isolated PostgreSQL schema."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


class Served:
    """A server over an upstream: `client` talks to it, `url` is its `/simple/` URL."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.server = ApiServer(service)
        self.client = self.server.client()
        self.url = f"{self.server.url}/simple/"

    def build(self, *requirements: str) -> None:
        """Build an environment of `requirements` (so the server holds their built wheels)."""
        answer = self.client.post("/v1/environments",
                                  json={"requirements": list(requirements), "target": LINUX_311})
        assert answer.status_code in (200, 202), answer.text
        assert wait_finished(self.client, answer.json()["id"])["status"] == "ready"

    def close(self) -> None:
        self.client.close()
        self.server.stop()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """`serve(upstream, **settings)`: a started venvd server whose index is `upstream`."""
    opened: list[tuple[Service, Served]] = []

    def make(index: LocalIndex | str, **overrides: object) -> Served:
        values: dict[str, object] = {
            "data_dir": tmp_path / f"data-{len(opened)}",
            "index_url": index if isinstance(index, str) else index.url,
            "http_retries": 1,
        }
        values.update(overrides)
        service = Service.open(Settings(**values))  # type: ignore[arg-type]
        served = Served(service)
        opened.append((service, served))
        return served

    yield make
    for service, served in opened:
        served.close()
        service.close()


def get_json(client: httpx.Client, path: str) -> httpx.Response:
    return client.get(path, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
