"""The memo's record of loaded closures (`Memo.warmed` / `put_warmed`), which lets a resolution skip
re-reading a root's stored closure that this process already holds."""

from __future__ import annotations

import time

from packaging.utils import canonicalize_name

from venvd.dist import CoreMetadata
from venvd.service._source import Memo

A, B = canonicalize_name("a"), canonicalize_name("b")


def _metadata(n: int) -> dict[str, CoreMetadata]:
    return {f"sha256:{i:064x}": CoreMetadata.create("a", f"1.{i}", requires_dist=["b>=1"])
            for i in range(n)}


def test_a_loaded_closure_is_remembered_within_its_age() -> None:
    memo = Memo()
    assert memo.warmed([A], max_age=60) is None
    held = _metadata(3)
    memo.put_warmed([A], frozenset({"a", "b"}), held)
    assert memo.warmed([A], max_age=60) == {"a", "b"}
    assert all(memo.metadata(key) is meta for key, meta in held.items())
    assert memo.warmed([A, B], max_age=60) is None  # b's own closure was never loaded
    time.sleep(0.02)
    assert memo.warmed([A], max_age=0.01) is None  # too old: read the store again


def test_objects_already_held_are_kept() -> None:
    memo = Memo()
    key, first = next(iter(_metadata(1).items()))
    memo.put_metadata(key, first)
    memo.put_warmed([A], frozenset({"a"}), {key: CoreMetadata.create("a", "1.0")})
    assert memo.metadata(key) is first


def test_dropping_the_metadata_forgets_the_closures() -> None:
    memo = Memo(limit=5)
    memo.put_warmed([A], frozenset({"a"}), _metadata(2))
    assert memo.warmed([A], max_age=60) is not None
    for key, meta in _metadata(6).items():  # fills the memo: it is dropped whole
        memo.put_metadata(key + "x", meta)
    assert memo.warmed([A], max_age=60) is None


def test_a_closure_that_cannot_fit_is_not_recorded() -> None:
    memo = Memo(limit=5)
    memo.put_warmed([A], frozenset({"a"}), _metadata(8))
    assert memo.warmed([A], max_age=60) is None
    assert memo.sizes()["metadata"] == 0
