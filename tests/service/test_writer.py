"""The background writer: queued store writes land in the store, in batches, each failure alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from venvd.dist import CoreMetadata
from venvd.service._writer import BackgroundWriter
from venvd.store import Store, sqlite_url_for


def test_queued_writes_are_batched_and_a_failure_loses_only_itself(tmp_path: Path) -> None:
    store = Store.open(sqlite_url_for(tmp_path))
    batches: list[str] = []

    @contextmanager
    def batch() -> Iterator[None]:
        try:
            with store.batch():
                yield
        except Exception:
            batches.append("rolled back")
            raise
        batches.append("committed")

    def broken() -> None:
        raise ValueError("this write fails")

    def queue_while_held(writer: BackgroundWriter, first: int, failing: bool) -> None:
        started, release = threading.Event(), threading.Event()

        def hold() -> None:  # holds the writer (taken alone) while the others queue up
            started.set()
            release.wait()

        writer.submit(hold)
        started.wait()
        for i in range(first, first + 10):
            writer.submit(store.put_metadata, f"k{i}", CoreMetadata.create(f"p{i}", "1.0"))
            if failing and i == first + 4:
                writer.submit(broken)
        release.set()
        writer.flush()

    writer = BackgroundWriter(batch=batch)
    queue_while_held(writer, 0, failing=False)
    assert batches == ["committed"]  # ten writes, one transaction
    queue_while_held(writer, 10, failing=True)
    assert batches == ["committed", "rolled back"]  # then each write alone
    writer.close()
    assert all(store.get_metadata(f"k{i}") is not None for i in range(20))
    store.close()


def test_without_a_batch_factory_each_write_runs_alone(tmp_path: Path) -> None:
    store = Store.open(sqlite_url_for(tmp_path))
    writer = BackgroundWriter()
    for i in range(5):
        writer.submit(store.put_metadata, f"k{i}", CoreMetadata.create(f"p{i}", "1.0"))
    writer.flush()
    writer.close()
    assert all(store.get_metadata(f"k{i}") is not None for i in range(5))
    store.close()
