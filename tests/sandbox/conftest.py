"""Fixtures of the sandbox tests: the build backends as wheels, an index serving them, a service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.dists import backend_wheels
from tests.support.index_server import LocalIndex
from venvd.service import Service, Settings


@pytest.fixture(scope="session")
def backends(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """setuptools, wheel, hatchling, flit-core and their requirements, re-packed from the test
    environment once per session (no network)."""
    return backend_wheels(tmp_path_factory.mktemp("backends"))


@pytest.fixture
def backend_index(local_index: Callable[..., LocalIndex], backends: list[Path]) -> LocalIndex:
    index = local_index()
    for wheel in backends:
        index.add(wheel)
    return index


@pytest.fixture
def service(tmp_path: Path, backend_index: LocalIndex) -> Iterator[Service]:
    with Service.open(Settings(data_dir=tmp_path / "data", index_url=backend_index.url,
                               http_retries=1, build_timeout=120)) as opened:
        yield opened
