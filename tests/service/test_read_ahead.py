"""The source reads metadata ahead of a resolver that walks a project's versions one at a time."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from packaging.utils import NormalizedName
from packaging.version import Version

from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.index import IndexClient, IndexConfig
from venvd.service._source import Memo, StoreBackedSource
from venvd.store import Store, sqlite_url_for
from venvd.target import Target


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "prefetches did not finish"
        time.sleep(0.01)


def test_a_version_by_version_walk_is_read_ahead(local_index: Callable[..., LocalIndex],
                                                  tmp_path: Path) -> None:
    index = local_index(pep658=True)
    for minor in range(12):
        index.add(make_wheel(tmp_path, "walk", f"1.{minor}"))
    store = Store.open(sqlite_url_for(tmp_path / "data"))
    client = IndexClient(IndexConfig(index_urls=(index.url,)))
    with ThreadPoolExecutor(4) as pool:
        source = StoreBackedSource(store, client, pool, Memo(), Target.current(), page_ttl=600)
        files = source.project_files(NormalizedName("walk"))
        assert files is not None
        newest_first = sorted(files, key=lambda f: f.version, reverse=True)

        def fetched() -> int:
            return len(index.requests_to(".metadata"))

        # A first unannounced read is ordinary: nothing else is fetched.
        assert source.metadata(newest_first[0]).version == Version("1.11")
        time.sleep(0.2)
        assert fetched() == 1
        # The second one on the same project: the next four older versions are read ahead.
        source.metadata(newest_first[1])
        _wait_for(lambda: fetched() == 6)
        assert {source.metadata(f).version for f in newest_first[2:6]} == {
            Version(f"1.{m}") for m in (9, 8, 7, 6)}
        assert fetched() == 6  # they came from the read-ahead, not from new requests
        # The next miss (1.5) reads further ahead, eight versions: all that is left.
        source.metadata(newest_first[6])
        _wait_for(lambda: fetched() == 12)
        source.close()
    client.close()
    store.close()
