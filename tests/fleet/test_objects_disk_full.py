"""A full disk during a build, or a full object store during the upload: the build fails naming the
cause, nothing half-written stays visible, the server keeps answering, and the build succeeds once
space is back."""

from __future__ import annotations

import errno
import io
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from tests.fleet import _objects_support as support
from tests.service.conftest import ApiServer
from tests.support.index_server import LocalIndex
from venvd.objects import ObjectStore, artifact_key, recipe_key
from venvd.service import Service, Settings

# The suite's fixtures, collected by pytest from this module's globals.
moto_endpoint = support.moto_endpoint
objects_world = support.objects_world
s3_url = support.s3_url

TARGET = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs mounted at the data dir's cache (skipped where mounting is not permitted)."""
    cache = tmp_path / "data" / "cache"
    cache.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(cache)],
                             capture_output=True, text=True, timeout=30)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield cache
    finally:
        subprocess.run(["umount", "-l", str(cache)], capture_output=True, timeout=30)


def _temps(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".")]


def test_disk_full_during_a_build(small_disk: Path, tmp_path: Path,
                                  objects_world: LocalIndex) -> None:
    service = Service.open(Settings(data_dir=tmp_path / "data", index_url=objects_world.url,
                                    http_retries=1))
    server = ApiServer(service)
    try:
        envs = service.environments
        doc = envs.create_from_json({"requirements": ["big"], "target": TARGET})
        doc = envs.wait(doc["id"], timeout=120)
        assert doc["status"] == "failed"
        error = doc["error"]
        assert error["code"] == "no_space", error
        assert "no space left on device" in error["message"]
        assert error["details"]["step"] in ("fetch", "install", "pack")
        assert _temps(small_disk) == []  # nothing half-written
        assert not list((small_disk / "environments-v1").glob("*.tar.zst"))
        with server.client() as http:  # the server keeps answering
            assert http.get("/v1/health").status_code == 200
            assert http.get(f"/v1/environments/{doc['id']}").json()["error"]["code"] == "no_space"
            assert http.post("/v1/resolve", json={"requirements": ["app"],
                                                  "target": TARGET}).status_code == 200
            assert http.get(f"/v1/environments/{doc['id']}/artifact").status_code == 404
        # Space is back: the same request builds.
        subprocess.run(["mount", "-o", "remount,size=32m", str(small_disk)], check=True, timeout=30)
        again = envs.create_from_json({"requirements": ["big"], "target": TARGET})
        again = envs.wait(again["id"], timeout=120)
        assert again["status"] == "ready", again
        assert again["id"] == doc["id"]
    finally:
        server.stop()
        service.close()


class FullStore:
    """An object store whose backend fills up: while `full`, an upload sends the first MiB of the
    file and then fails with ENOSPC (what an S3-API server with no space, or a full shared mount,
    does); everything else is the real store."""

    def __init__(self, real: ObjectStore) -> None:
        self.real = real
        self.full = True
        self.name = real.name

    def put_file(self, key: str, path: Path) -> None:
        if not self.full:
            self.real.put_file(key, path)
            return
        with path.open("rb") as fh:
            self.real.put_stream(key, _FillsUp(fh))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class _FillsUp(io.RawIOBase):
    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.sent = fh, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        # Full after 256 bytes: the upload that publishes a build is its recipe (its fragments
        # went to the store as they were made), a few KB.
        if self.sent >= 256:
            raise OSError(errno.ENOSPC, "No space left on device")
        data = self.fh.read(min(len(buffer), 256 - self.sent))
        buffer[:len(data)] = data
        self.sent += len(data)
        return len(data)


def test_object_store_full_during_the_upload(tmp_path: Path, objects_world: LocalIndex,
                                             s3_url: str, moto_endpoint: str) -> None:
    service = Service.open(Settings(data_dir=tmp_path / "data", index_url=objects_world.url,
                                    http_retries=1, object_store=s3_url,
                                    s3_endpoint_url=moto_endpoint))
    try:
        envs = service.environments
        real = envs.artifacts.objects
        full = FullStore(real)
        envs.artifacts.objects = full  # type: ignore[assignment]
        doc = envs.create_from_json({"requirements": ["big"], "target": TARGET})
        doc = envs.wait(doc["id"], timeout=120)
        assert doc["status"] == "failed"
        assert doc["error"]["code"] == "no_space", doc["error"]
        assert doc["error"]["details"]["step"] == "upload"
        assert "no space left on device" in doc["error"]["message"]
        assert real.stat(recipe_key(doc["id"])) is None  # no partial object
        assert list(real.list("environments-v1/")) == []
        full.full = False
        again = envs.wait(envs.create_from_json({"requirements": ["big"], "target": TARGET})["id"],
                          timeout=120)
        assert again["status"] == "ready", again
        assert real.stat(recipe_key(doc["id"])) is not None
        assert real.stat(artifact_key(doc["id"])) is None  # served from its parts, no copy
    finally:
        service.close()
