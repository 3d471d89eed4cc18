"""GC announces each removal of a streamed object, then reads the leases again: a download that leases
while the removal is announced either is seen by GC (the object stays) or sees the announcement."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from venvd.objects import DELETING_PREFIX, FileObjectStore, collect
from venvd.service._gc import LeaseGuard
from venvd.store import Store

KEY = "fragments-v1/aa/layout.tar.zst"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store.open(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    yield db
    db.close()


def _objects(tmp_path: Path) -> FileObjectStore:
    objects = FileObjectStore(tmp_path / "cache")
    for key in (KEY, "wheels-v1/bb/bbbb/b-1.0-py3-none-any.whl"):
        path = objects.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 100)
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    return objects


def test_a_lease_taken_while_the_removal_is_announced_keeps_the_object(
        tmp_path: Path, store: Store) -> None:
    objects = _objects(tmp_path)
    guard = LeaseGuard(store)
    seen: list[list[str]] = []

    class Download(LeaseGuard):
        def announce(self, key: str) -> None:
            super().announce(key)
            seen.append(store.leased_objects())  # what a download reading the leases now sees
            if key == KEY:  # a download leases the fragment after GC's first look at the leases
                from datetime import UTC, datetime, timedelta

                store.lease_objects("download:x", [key], datetime.now(UTC) + timedelta(minutes=1))

    report = collect(objects, max_size=0, leased=store.leased_objects, min_age=0,
                     guard=Download(store))
    assert [o.key for o in report.removed] == ["wheels-v1/bb/bbbb/b-1.0-py3-none-any.whl"]
    assert objects.stat(KEY) is not None and report.in_use == 1
    # The fragment's removal was announced (a download would have answered "collected"); a
    # wheel's is not (downloads never stream wheels); every announcement is withdrawn.
    assert [DELETING_PREFIX + KEY] in seen
    assert store.leased_objects() == [KEY]
    store.release_objects("download:x")
    assert [o.key for o in collect(objects, max_size=0, leased=store.leased_objects, min_age=0,
                                   guard=guard).removed] == [KEY]
    assert store.leased_objects() == []
