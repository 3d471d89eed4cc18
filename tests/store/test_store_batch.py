"""`Store.batch()`: the writes of a block in one transaction, all or nothing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from venvd.dist import CoreMetadata, DistFile
from venvd.store import Store

INDEX = "https://example.test/simple"
T0 = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def _page(name: str) -> list[DistFile]:
    made = DistFile.from_filename(f"{name}-1.0-py3-none-any.whl", f"https://files.test/{name}.whl",
                                  index_url=INDEX)
    assert made is not None
    return [made]


def test_a_batch_commits_its_writes_together(store: Store) -> None:
    seen_inside: list[object] = []
    with store.batch():
        store.put_project_page("one", INDEX, _page("one"), None, T0)
        assert store.put_metadata("k1", CoreMetadata.create("one", "1.0", requires_dist=["two"]))
        with store.batch():  # nested: joins the outer transaction
            store.put_project_page("two", INDEX, _page("two"), None, T0)
        # Another thread reads committed data only.
        reader = threading.Thread(target=lambda: seen_inside.append(store.get_project_page("one")))
        reader.start()
        reader.join()
        assert store.get_project_page("one") is not None  # this thread sees its own writes
    assert seen_inside == [None]
    assert store.get_project_page("one") is not None and store.get_project_page("two") is not None
    assert store.get_metadata("k1") is not None
    assert store.closure(["one"]).names == {"one", "two"}


def test_a_failing_batch_writes_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.batch():
        store.put_project_page("one", INDEX, _page("one"), None, T0)
        store.put_metadata("k1", CoreMetadata.create("one", "1.0"))
        raise RuntimeError("a later write failed")
    assert store.get_project_page("one") is None and store.get_metadata("k1") is None
    # The store is usable afterwards, in and out of batches.
    with store.batch():
        store.put_project_page("one", INDEX, _page("one"), None, T0)
    assert store.get_project_page("one") is not None
