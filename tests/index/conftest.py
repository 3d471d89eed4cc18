"""Fixtures of the index tests: an IndexClient factory with test-sized backoff."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from venvd.index import IndexClient, IndexConfig


@pytest.fixture
def index_client(tmp_path: Path) -> Iterator[Callable[..., IndexClient]]:
    """Factory: `index_client(url, ..., find_links=(...), **IndexClient kwargs)`."""
    clients: list[IndexClient] = []

    def make(*index_urls: str, find_links: tuple[str, ...] = (), **kwargs: object) -> IndexClient:
        kwargs.setdefault("backoff", 0.01)
        kwargs.setdefault("work_dir", tmp_path)
        client = IndexClient(IndexConfig(index_urls=index_urls, find_links=find_links),
                             **kwargs)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
