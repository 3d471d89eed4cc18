"""Object store and GC figures (not a timed test): `python bench/objects_bench.py`.

- artifact download through the API (uvicorn on loopback, httpx client that verifies sha256):
  streamed from the filesystem store, streamed from S3 (moto in server mode), presigned 307 → S3;
- one GC pass over 20,000 filesystem objects (dry run, then collecting half under a budget).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fleet._objects_support import S3_ENV, free_port, stop, wait_http
from tests.service.conftest import ApiServer
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex

from venvd.client._http import HttpClient
from venvd.objects import FileObjectStore, collect
from venvd.service import Service, Settings

MB = 1_000_000


def download_figures(root: Path) -> None:
    os.environ.update(S3_ENV)
    index = LocalIndex(root / "index").start()
    index.add(make_wheel(root / "src", "big", "1.0", files={"big/__init__.py": "",
                                                            "big/blob.bin": os.urandom(64 * MB)}))
    port = free_port()
    moto = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1",
                             "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_http(endpoint, moto)
        from venvd.objects._s3 import S3ObjectStore

        S3ObjectStore("s3://bench", endpoint_url=endpoint).ensure_bucket()
        cases = {"filesystem, streamed": {}, "s3, streamed": {"object_store": "s3://bench/a"},
                 "s3, presigned 307": {"object_store": "s3://bench/a", "presign_downloads": True}}
        for name, extra in cases.items():
            service = Service.open(Settings(data_dir=root / name.replace(" ", ""), index_url=index.url,
                                            s3_endpoint_url=endpoint, **extra))
            server = ApiServer(service)
            try:
                doc = service.environments.create_from_json(
                    {"requirements": ["big"], "target": {"python": "3.11",
                                                         "platform": "manylinux_2_28_x86_64"}})
                doc = service.environments.wait(doc["id"], timeout=600)
                client = HttpClient(server.url)
                times = []
                for i in range(3):
                    started = time.perf_counter()
                    client.download(doc["id"], root / f"dl-{i}.tar.zst")
                    times.append(time.perf_counter() - started)
                client.close()
                best = min(times)
                print(f"download {name}: {doc['size'] / MB:.1f} MB in {best:.2f} s "
                      f"({doc['size'] / MB / best:.0f} MB/s, best of 3, sha256 verified)")
            finally:
                server.stop()
                service.close()
    finally:
        stop(moto)
        index.stop()


def gc_figures(root: Path) -> None:
    store = FileObjectStore(root / "gc")
    now = time.time()
    for i in range(20_000):
        path = store.root / "wheels-v1" / f"{i % 256:02x}" / f"{i:064x}" / "x.whl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)
        os.utime(path, (now - i, now - i))
    started = time.perf_counter()
    dry = collect(store, max_size=10_000_000, dry_run=True, min_age=0)
    middle = time.perf_counter()
    done = collect(store, max_size=10_000_000, min_age=0)
    end = time.perf_counter()
    print(f"gc over 20,000 objects: dry run {middle - started:.2f} s ({len(dry.removed)} would go), "
          f"collecting {len(done.removed)} took {end - middle:.2f} s")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        gc_figures(Path(tmp))
        download_figures(Path(tmp))
