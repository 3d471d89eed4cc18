"""Shared fixtures: a real local index (tests/support/index_server.py) and the PostgreSQL URL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.index_server import LocalIndex


@pytest.fixture
def local_index(tmp_path: Path) -> Iterator[Callable[..., LocalIndex]]:
    """Factory: `local_index(json=True, pep658=True, ranges=True, etag=True)` gives a started index."""
    started: list[LocalIndex] = []

    def make(**switches: bool) -> LocalIndex:
        index = LocalIndex(tmp_path / f"index-{len(started)}", **switches).start()
        started.append(index)
        return index

    yield make
    for index in started:
        index.stop()
