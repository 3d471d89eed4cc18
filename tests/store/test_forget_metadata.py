"""`Store.forget_metadata`: wrong metadata goes, with every resolution pinning its file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from venvd.dist import CoreMetadata
from venvd.store import Store


def _lock(sha256: str) -> dict[str, object]:
    return {"packages": [{"name": "app", "version": "1.0", "files": [
        {"filename": "app-1.0-py3-none-any.whl", "url": "http://x/app.whl", "sha256": sha256}]}]}


def test_forget_metadata_drops_it_and_the_resolutions_pinning_the_file(store: Store) -> None:
    bad, good = "a" * 64, "b" * 64
    for sha in (bad, good):
        store.put_metadata(f"sha256:{sha}", CoreMetadata.create("app", "1.0", ["lib"]))
    later = datetime.now(UTC) + timedelta(hours=1)
    store.put_resolution("uses-bad", {}, _lock(bad), later)
    store.put_resolution("uses-good", {}, _lock(good), None)
    store.forget_metadata(f"sha256:{bad}", bad)
    assert store.get_metadata(f"sha256:{bad}") is None
    assert store.get_metadata(f"sha256:{good}") is not None
    assert store.get_resolution("uses-bad") is None
    assert store.get_resolution("uses-good") is not None
    assert store.closure(["app"]).metadata.keys() == {f"sha256:{good}"}
