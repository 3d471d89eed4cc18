"""The object-store contract, on the filesystem and on a real S3-API server (moto, server mode)."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.fleet import _objects_support as support
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.objects import FileObjectStore, ObjectStore, open_object_store, parse_age, parse_size
from venvd.service import Service, Settings

# The suite's fixtures, collected by pytest from this module's globals.
moto_endpoint = support.moto_endpoint
s3_url = support.s3_url



@pytest.fixture(params=["filesystem", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "filesystem":
        return open_object_store("", tmp_path / "cache")
    url = request.getfixturevalue("s3_url")
    endpoint = request.getfixturevalue("moto_endpoint")
    return open_object_store(url, tmp_path / "cache", endpoint_url=endpoint)


KEY = "environments-v1/abc.tar.zst"


def test_put_read_stat_list_delete(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    source = tmp_path / "source"
    source.write_bytes(data)
    assert store.stat(KEY) is None
    store.put_file(KEY, source)
    store.put_stream("wheels-v1/ab/abcd/x-1.0-py3-none-any.whl", io.BytesIO(b"wheel"))
    info = store.stat(KEY)
    assert info is not None and info.size == len(data)
    assert b"".join(store.open_range(KEY)) == data
    assert b"".join(store.open_range(KEY, 10, 20)) == data[10:21]
    assert b"".join(store.open_range(KEY, len(data) - 5)) == data[-5:]
    listed = {o.key: o.size for o in store.list("")}
    assert listed == {KEY: len(data), "wheels-v1/ab/abcd/x-1.0-py3-none-any.whl": 5}
    assert [o.key for o in store.list("environments-v1/")] == [KEY]
    copy = tmp_path / "copy" / "a"
    store.get_file(KEY, copy)
    assert copy.read_bytes() == data
    store.delete(KEY)
    store.delete(KEY)  # a miss is ignored
    assert store.stat(KEY) is None
    with pytest.raises(FileNotFoundError):
        next(iter(store.open_range(KEY)))
    with pytest.raises(FileNotFoundError):
        store.get_file(KEY, tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


def test_failed_write_leaves_nothing_visible(store: ObjectStore) -> None:
    class Broken(io.RawIOBase):
        """A stream that gives 2 MiB, then fails like a dropped connection."""

        def __init__(self) -> None:
            self.sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            if self.sent >= 2 << 20:
                raise OSError("connection reset")
            n = min(len(buffer), 64 << 10)
            buffer[:n] = b"x" * n
            self.sent += n
            return n

    with pytest.raises(OSError):
        store.put_stream(KEY, Broken())  # type: ignore[arg-type]
    assert store.stat(KEY) is None
    assert list(store.list("")) == []


def test_touch_moves_last_use(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "s"
    source.write_bytes(b"x")
    store.put_file(KEY, source)
    before = store.stat(KEY)
    assert before is not None
    if isinstance(store, FileObjectStore):
        os.utime(store.root / KEY, (before.last_used - 100, before.last_used - 100))
        before = store.stat(KEY)
        assert before is not None
    else:
        time.sleep(1.1)  # S3 times have a one-second resolution
    store.touch(KEY)
    after = store.stat(KEY)
    assert after is not None and after.last_used > before.last_used
    assert b"".join(store.open_range(KEY)) == b"x"  # a touch keeps the bytes
    store.touch("environments-v1/missing")  # a miss is ignored


def test_presigned_url_serves_ranges(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "s"
    source.write_bytes(b"0123456789")
    store.put_file(KEY, source)
    url = store.presigned_url(KEY, 60)
    if isinstance(store, FileObjectStore):
        assert url is None
        return
    assert url is not None and "Signature" in url
    assert httpx.get(url).content == b"0123456789"
    assert httpx.get(url, headers={"Range": "bytes=3-5"}).content == b"345"


def test_unsafe_keys_are_refused(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path)
    for key in ("", "/etc/passwd", "a/../../b", "a//b"):
        with pytest.raises(ValueError):
            store.stat(key)


def test_sizes_and_ages() -> None:
    assert parse_size("20GB") == 20 * 10**9
    assert parse_size("512MiB") == 512 * 2**20
    assert parse_size("1000") == 1000
    assert parse_age("30d") == 30 * 86400
    assert parse_age("90m") == 5400
    assert parse_age("12") == 12
    for bad in ("", "lots", "5 parsecs"):
        with pytest.raises(ValueError):
            parse_size(bad)
    with pytest.raises(ValueError):
        parse_age("soon")


def test_unknown_object_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        open_object_store("gs://bucket", tmp_path)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield


def test_workers_share_wheels_and_fragments_through_the_store(
        tmp_path: Path, s3_url: str, moto_endpoint: str,
        local_index: Callable[..., LocalIndex]) -> None:
    """Two workers with their own disks and stores, one S3 store: the second builds the same
    environment from the first's fragments (no wheel downloaded from the index), byte-identical."""
    index = local_index()
    src = tmp_path / "src"
    index.add(make_wheel(src, "app", "1.0", requires_dist=["lib>=1"]))
    index.add(make_wheel(src, "lib", "1.0"))
    body = {"requirements": ["app"], "target": {"python": "3.11", "platform": "manylinux_2_28_x86_64"}}
    docs = []
    for node in ("a", "b"):
        service = Service.open(Settings(data_dir=tmp_path / node, index_url=index.url, http_retries=1,
                                        object_store=s3_url, s3_endpoint_url=moto_endpoint))
        try:
            doc = service.environments.create_from_json(body)
            docs.append(service.environments.wait(doc["id"], timeout=120))
        finally:
            service.close()
        if node == "a":
            shared = {o.key for o in open_object_store(s3_url, tmp_path, endpoint_url=moto_endpoint)
                      .list("")}
            assert {k.split("/")[0] for k in shared} == {
                "wheels-v1", "fragments-v1", "environments-v1"}
            downloads = len(index.requests_to(".whl"))
    assert [d["status"] for d in docs] == ["ready", "ready"]
    assert docs[0]["sha256"] == docs[1]["sha256"]
    assert len(index.requests_to(".whl")) == downloads  # node b took the fragments from S3
    assert not (tmp_path / "b" / "cache" / "wheels-v1").exists()
