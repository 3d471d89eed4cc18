"""A real server with a private index "team" over a real local upstream index, and real dists.

Upstream holds `upstreamdep` 1.0 (what private packages depend on), `taken` 2.0 (a name the index
may not shadow) and `shadowed` 2.0 (one it may: the `private_indexes` setting says so)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import ApiServer
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.service import Service, Settings
from venvd.store import Tokens

TEAM = {"team": ["shadowed"]}


@pytest.fixture
def upstream(local_index: Callable[..., LocalIndex], tmp_path: Path) -> LocalIndex:
    index = local_index()
    dists = tmp_path / "upstream-dists"
    index.add(make_wheel(dists, "upstreamdep", "1.0"))
    index.add(make_wheel(dists, "taken", "2.0"))
    index.add(make_wheel(dists, "shadowed", "2.0"))
    return index


class Team:
    """A started server with the private index "team": its service, URL and an httpx client."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.server = ApiServer(service)
        self.url = self.server.url
        self.http = self.server.client()

    def token(self, name: str, scope: str) -> str:
        return Tokens(self.service.store).create(name, scope)[1]

    def rows(self) -> int:
        """Private files the store holds."""
        from venvd.store import PrivateFiles

        return len(PrivateFiles(self.service.store).projects(["team"])["team"])

    def objects(self) -> list[Path]:
        root = self.service.settings.data_dir / "cache" / "private-v1"
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []

    def close(self) -> None:
        self.http.close()
        self.server.stop()
        self.service.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (the embedded SQLite default) or a PostgreSQL schema of this test's own (private
    files are not content-addressed rows: tests sharing a schema would see each other's)."""
    if request.param == "sqlite":
        yield None
        return
    from tests.support.postgres import postgres_schema

    with postgres_schema(request.getfixturevalue("postgres_url"), "venvd_uploads") as url:
        yield url


@pytest.fixture
def team(upstream: LocalIndex, tmp_path: Path) -> Iterator[Callable[..., Team]]:
    """`team(**settings)`: a started server over `upstream` with the private index "team"."""
    started: list[Team] = []

    def make(**overrides: object) -> Team:
        values: dict[str, object] = {
            "data_dir": tmp_path / f"data-{len(started)}", "index_url": upstream.url,
            "http_retries": 1, "private_indexes": TEAM}
        values.update(overrides)
        team = Team(Service.open(Settings(**values)))  # type: ignore[arg-type]
        started.append(team)
        return team

    yield make
    for team in started:
        team.close()


def upload(http: httpx.Client, path: Path, *, index: str = "team", filename: str | None = None,
           **fields: str) -> httpx.Response:
    """POST one file as twine does (its sha256 and the name/version twine would send, unless
    `fields` say otherwise)."""
    import hashlib

    data = {":action": "file_upload", "protocol_version": "1",
            "sha256_digest": hashlib.sha256(path.read_bytes()).hexdigest(), **fields}
    with path.open("rb") as fh:
        return http.post(f"/{index}/", data=data,
                         files={"content": (filename or path.name, fh, "application/octet-stream")})
