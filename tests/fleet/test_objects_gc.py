"""Cache GC: least-recently-used order, dry run, leases and recent use, rebuild after collection
(byte-identical), and downloads racing a GC."""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fleet import _objects_support as support
from tests.service.conftest import ApiServer
from tests.support.index_server import LocalIndex
from venvd.client._http import HttpClient
from venvd.errors import VenvdError
from venvd.objects import FileObjectStore, collect
from venvd.service import Service, Settings
from venvd.service._gc import run_gc
from venvd.store import Store

# The suite's fixtures, collected by pytest from this module's globals.
moto_endpoint = support.moto_endpoint
objects_world = support.objects_world
s3_url = support.s3_url

TARGET = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}


def _put(store: FileObjectStore, key: str, size: int, used: float) -> None:
    path = store.root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (used, used))


@pytest.fixture
def objects(tmp_path: Path) -> FileObjectStore:
    """Four objects, one per cache directory, last used 4, 3, 2 and 1 hours ago."""
    store = FileObjectStore(tmp_path / "cache")
    now = time.time()
    _put(store, "environments-v1/old.tar.zst", 400, now - 4 * 3600)
    _put(store, "fragments-v1/aa/layout.tar.zst", 300, now - 3 * 3600)
    _put(store, "wheels-v1/bb/bbbb/b-1.0-py3-none-any.whl", 200, now - 2 * 3600)
    _put(store, "built-v1/cc/key/c-1.0-py3-none-any.whl", 100, now - 1 * 3600)
    (store.root / "wheels-v1" / ".tmp-123-partial").write_bytes(b"y" * 10_000)  # never an object
    return store


def test_least_recently_used_first_under_a_budget_and_dry_run(objects: FileObjectStore) -> None:
    dry = collect(objects, max_size=350, dry_run=True)
    assert [o.key for o in dry.removed] == [
        "environments-v1/old.tar.zst", "fragments-v1/aa/layout.tar.zst"]
    assert dry.total_before == 1000 and dry.total_after == 300
    assert len(list(objects.list())) == 4  # a dry run removes nothing
    done = collect(objects, max_size=350)
    assert [o.key for o in done.removed] == [o.key for o in dry.removed]
    assert sorted(o.key for o in objects.list()) == [
        "built-v1/cc/key/c-1.0-py3-none-any.whl", "wheels-v1/bb/bbbb/b-1.0-py3-none-any.whl"]
    assert (objects.root / "wheels-v1" / ".tmp-123-partial").exists()  # a writer's temp is not ours


def test_older_than_and_nothing_without_a_limit(objects: FileObjectStore) -> None:
    assert collect(objects).removed == []
    report = collect(objects, older_than=2.5 * 3600)
    assert [o.key for o in report.removed] == [
        "environments-v1/old.tar.zst", "fragments-v1/aa/layout.tar.zst"]


def test_leases_and_recent_use_protect(objects: FileObjectStore, tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        soon = datetime.now(UTC) + timedelta(minutes=5)
        store.lease_objects("build:x", ["fragments-v1/aa/", "environments-v1/old.tar.zst"], soon)
        store.lease_objects("gone", ["wheels-v1/"], datetime.now(UTC) - timedelta(seconds=1))
        objects.touch("built-v1/cc/key/c-1.0-py3-none-any.whl")  # used just now
        report = collect(objects, max_size=0, leased=store.leased_objects, min_age=60)
        assert [o.key for o in report.removed] == ["wheels-v1/bb/bbbb/b-1.0-py3-none-any.whl"]
        assert report.in_use == 3
        store.release_objects("build:x")
        report = collect(objects, max_size=0, leased=store.leased_objects, min_age=60)
        assert [o.key for o in report.removed] == [
            "environments-v1/old.tar.zst", "fragments-v1/aa/layout.tar.zst"]
        assert store.leased_objects() == []  # the expired lease was dropped
    finally:
        store.close()


def _settings(tmp_path: Path, index: LocalIndex, **extra: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", index_url=index.url, http_retries=1, **extra)


@pytest.fixture(params=["filesystem", "s3"])
def make_settings(request: pytest.FixtureRequest, tmp_path: Path,
                  objects_world: LocalIndex) -> Callable[..., Settings]:
    extra: dict[str, Any] = {}
    if request.param == "s3":
        extra = {"object_store": request.getfixturevalue("s3_url"),
                 "s3_endpoint_url": request.getfixturevalue("moto_endpoint")}

    def make(**more: Any) -> Settings:
        return _settings(tmp_path, objects_world, **extra, **more)

    return make


def _ready(service: Service, requirements: list[str]) -> dict[str, Any]:
    doc = service.environments.create_from_json({"requirements": requirements, "target": TARGET})
    doc = service.environments.wait(doc["id"], timeout=120)
    assert doc["status"] == "ready", doc
    return doc


def test_collected_environment_is_rebuilt_byte_identical(
        make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = make_settings()
    service = Service.open(settings)
    try:
        first = _ready(service, ["app"])
        first_bytes = service.environments.artifact_path(first["id"]).read_bytes()
    finally:
        service.close()
    # `venvd gc` as an operator runs it, on the same settings.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("VENVD_")}, **support.S3_ENV,
           "VENVD_DATA_DIR": str(settings.data_dir), "VENVD_OBJECT_STORE": settings.object_store,
           "VENVD_S3_ENDPOINT_URL": settings.s3_endpoint_url or ""}
    dry = subprocess.run([sys.executable, "-m", "venvd", "gc", "--max-size", "0", "--min-age", "0",
                          "--dry-run"], capture_output=True, text=True, timeout=120, env=env)
    assert dry.returncode == 0, dry.stderr
    assert "would remove" in dry.stderr
    done = subprocess.run([sys.executable, "-m", "venvd", "gc", "--max-size", "0", "--min-age", "0"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "removed" in done.stderr
    service = Service.open(settings)
    try:
        envs = service.environments
        assert list(envs.artifacts.objects.list("")) == []
        assert envs.status(first["id"])["status"] == "ready"  # the record stays
        again = _ready(service, ["app"])
        assert again["id"] == first["id"] and again["sha256"] == first["sha256"]
        assert envs.artifact_path(first["id"]).read_bytes() == first_bytes
    finally:
        service.close()


def test_bad_gc_arguments_are_one_line_errors(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("VENVD_")},
           "VENVD_DATA_DIR": str(tmp_path / "data")}
    for args, more in (([], {}), (["--max-size", "lots"], {}), (["--older-than", "soon"], {}),
                       (["--max-size", "1GB"], {"VENVD_CACHE_MAX_SIZE": "lots"})):
        result = subprocess.run([sys.executable, "-m", "venvd", "gc", *args], capture_output=True,
                                text=True, timeout=60, env={**env, **more})
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("venvd: error:") and "Traceback" not in result.stderr


def test_a_running_build_keeps_what_it_uses(tmp_path: Path, objects_world: LocalIndex) -> None:
    service = Service.open(_settings(tmp_path, objects_world))
    try:
        other = _ready(service, ["big"])  # cached objects no running build uses
        gate, fetching = threading.Event(), threading.Event()
        real = service.index.download

        def slow_lib(url: str, sha256: str, dest: Path) -> Any:
            if "/lib-" in url:
                fetching.set()
                assert gate.wait(60)
            return real(url, sha256, dest)

        service.index.download = slow_lib  # type: ignore[method-assign]
        doc = service.environments.create_from_json({"requirements": ["app"], "target": TARGET})
        assert fetching.wait(60)
        time.sleep(0.5)  # app's wheel and fragment are written meanwhile
        envs = service.environments
        before = {o.key for o in envs.artifacts.objects.list("")}
        assert any("/app-1.0" in k for k in before)
        report = run_gc(service.store, envs.artifacts.objects, envs.cache.root, max_size=0, min_age=0)[0]
        removed = {o.key for o in report.removed}
        assert any(other["id"] in k for k in removed)  # the idle environment went
        assert not any("/app-1.0" in k or "lib" in k for k in removed)
        assert report.in_use >= 1
        gate.set()
        doc = envs.wait(doc["id"], timeout=120)
        assert doc["status"] == "ready", doc
        assert service.store.leased_objects() == []  # released at the end of the build
    finally:
        service.close()


def test_downloads_racing_gc_get_the_right_bytes_or_a_clean_error(
        tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    service = Service.open(make_settings())
    server = ApiServer(service)
    try:
        doc = _ready(service, ["big", "app"])
        results: list[str] = []
        failures: list[VenvdError] = []
        dirty: list[BaseException] = []
        lock = threading.Lock()
        streaming = threading.Event()  # some download has bytes in flight
        stop = threading.Event()  # GC is done: each client finishes its fourth download and stops

        def downloader(n: int) -> None:
            client = HttpClient(server.url, stream_read_timeout=30, wait_timeout=120)
            try:
                for i in itertools.count():
                    if i >= 4 and stop.is_set():
                        break
                    dest = tmp_path / f"dl-{n}-{i}.tar.zst"
                    try:
                        info = client.download(doc["id"], dest,
                                               progress=lambda done, total: streaming.set())
                        digest = hashlib.sha256(dest.read_bytes()).hexdigest()
                        assert info["sha256"] == digest and info["size"] == dest.stat().st_size
                        with lock:
                            results.append(digest)
                    except VenvdError as exc:  # a clean error, which a rerun retries
                        with lock:
                            failures.append(exc)
                    except BaseException as exc:  # anything else (a wrong file included) fails
                        with lock:
                            dirty.append(exc)
                    time.sleep(0.05)  # a window between downloads, in which GC can collect
            finally:
                client.close()

        def running() -> bool:
            return any(t.is_alive() for t in threads)

        threads = [threading.Thread(target=downloader, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        # GC races the downloads, paced so the outcome does not depend on the machine's speed:
        # clients download over and over until GC is done; GC runs back to back while they do
        # (collecting the artifact whenever no download holds it), and after each collection waits
        # until the rebuilt artifact has been downloaded twice. Three collections: a download
        # fails only if all three of its attempts meet one, so at most one per client fails.
        collected = 0
        deadline = time.monotonic() + 120
        envs = service.environments
        assert streaming.wait(60), "no download started"
        while running() and collected < 3 and time.monotonic() < deadline:
            reports = run_gc(service.store, envs.artifacts.objects, envs.cache.root, max_size=0,
                             min_age=0)
            if not any(o.key.startswith("environments-v1/") for o in reports[0].removed):
                continue
            collected += 1
            with lock:
                seen = len(results)
            while running() and time.monotonic() < deadline:
                with lock:
                    if len(results) >= seen + 2:
                        break
                time.sleep(0.05)
        stop.set()
        for thread in threads:
            thread.join(timeout=180)
        assert not any(t.is_alive() for t in threads)
        assert collected == 3, f"GC collected the artifact {collected} times between downloads"
        print(f"gc collected the artifact {collected} times; {len(results)} downloads, "
              f"{len(failures)} clean errors")
        assert dirty == []
        assert len(results) >= 16 and set(results) == {doc["sha256"]}, failures
        assert len(failures) <= 4, failures
        # A clean error names what happened (the artifact was collected / is being rebuilt).
        assert all(exc.code == "not_found" for exc in failures), failures
        assert not list(tmp_path.glob("dl-*.part"))  # nothing truncated left behind
        # Once GC stops, a download (the client's retry) gets the right bytes.
        client = HttpClient(server.url, wait_timeout=120)
        try:
            assert client.download(doc["id"], tmp_path / "last.tar.zst")["sha256"] == doc["sha256"]
        finally:
            client.close()
    finally:
        server.stop()
        service.close()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("VENVD_"):
            monkeypatch.delenv(name)
    yield


def test_periodic_gc_keeps_the_cache_under_its_budget(tmp_path: Path,
                                                      objects_world: LocalIndex) -> None:
    service = Service.open(_settings(tmp_path, objects_world, cache_max_size="1MB", gc_interval=0.2,
                                     gc_min_age=0))
    try:
        doc = _ready(service, ["big"])  # about 3 MB of wheel, fragment and artifact
        envs = service.environments
        deadline = time.monotonic() + 30
        while sum(o.size for o in envs.artifacts.objects.list("")) > 1_000_000:
            assert time.monotonic() < deadline, "the periodic GC did not run"
            time.sleep(0.1)
        assert envs.status(doc["id"])["status"] == "ready"
        again = _ready(service, ["big"])  # collected, so rebuilt: the same bytes
        assert again["sha256"] == doc["sha256"]
    finally:
        service.close()


def test_records_written_before_the_object_store_still_serve(tmp_path: Path,
                                                             objects_world: LocalIndex) -> None:
    """Records of earlier versions hold an absolute local path; the key comes from the id."""
    service = Service.open(_settings(tmp_path, objects_world))
    server = ApiServer(service)
    try:
        doc = _ready(service, ["app"])
        envs = service.environments
        record = service.store.get_environment(doc["id"])
        assert record is not None and record.artifact_path == f"environments-v1/{doc['id']}.json"
        # Earlier versions stored the archive as one file (written here from the parts).
        old_style = str(envs.artifact_path(doc["id"]))
        assert old_style == str(envs.cache.artifact_path(doc["id"]))
        service.store.update_environment(doc["id"], artifact_path=old_style)
        with server.client() as http:
            answer = http.get(f"/v1/environments/{doc['id']}/artifact")
        assert answer.status_code == 200
        assert hashlib.sha256(answer.content).hexdigest() == doc["sha256"]
    finally:
        server.stop()
        service.close()
