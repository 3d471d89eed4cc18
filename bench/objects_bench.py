"""Object store, serving and GC figures (not a timed test): `python bench/objects_bench.py [serving]`.

- serving an environment of cached fragments (the issue's "server work per 100 MB"), against a real
  `venvd serve` on a local index of ten 10 MB wheels: the build of a new combination of cached
  fragments (hashing them for the recipe; no copy) per 100 MB, next to what the build did before
  (concatenating the same fragments into one file while hashing), measured in the same run; and
  the server process's CPU time to stream the archive per 100 MB (/proc/<pid>/stat);
- artifact download through the API (uvicorn on loopback, httpx client that verifies sha256):
  streamed from the filesystem store, streamed from S3 (moto in server mode), presigned 307 → S3;
- one GC pass over 20,000 filesystem objects (dry run, then collecting half under a budget).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

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


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _ready(url: str, body: dict[str, Any]) -> dict[str, Any]:
    doc = httpx.post(f"{url}/v1/environments", json=body, timeout=600).json()
    while doc["status"] not in ("ready", "failed"):
        time.sleep(0.05)
        doc = httpx.get(f"{url}/v1/environments/{doc['id']}", timeout=60).json()
    if doc["status"] != "ready":
        raise SystemExit(f"build failed: {doc['error']}")
    return doc


def serving_figures(root: Path, runs: int = 3) -> None:
    from tests.fleet._objects_support import ServeProcess

    from venvd.builder._pack import hash_artifact, write_concatenation
    from venvd.objects import Recipe

    index = LocalIndex(root / "serving-index").start()
    for i in range(10):
        index.add(make_wheel(root / "serving-src", f"blob{i}", "1.0",
                             files={f"blob{i}/__init__.py": "", f"blob{i}/data.bin": os.urandom(10 * MB)}))
    data = root / "serving-data"
    node = ServeProcess(data, index, auth="off")
    target = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}
    try:
        cold = _ready(node.url, {"requirements": [f"blob{i}" for i in range(10)], "target": target})
        builds, hashing, before, cpu, wall = [], [], [], [], []
        for run in range(runs):
            # A new combination of cached fragments: nine of the ten packages.
            names = [f"blob{i}" for i in range(10) if i != run]
            doc = _ready(node.url, {"requirements": names, "target": target})
            per_100mb = 100 * MB / doc["size"]
            builds.append(doc["progress"]["seconds"] * per_100mb)
            from venvd.builder import read_recipe

            recipe: Recipe = read_recipe((data / "cache" / "environments-v1" / f"{doc['id']}.json")
                                         .read_bytes())[0]
            head, tail = recipe.parts[0].data, recipe.parts[-1].data
            assert head is not None and tail is not None
            fragments = [data / "cache" / p.key for p in recipe.parts if p.key is not None]
            started = time.perf_counter()
            hash_artifact(head, fragments, tail)
            hashing.append((time.perf_counter() - started) * per_100mb)
            started = time.perf_counter()
            digest, size = write_concatenation(root / "before.tar.zst", head, fragments, tail)
            before.append((time.perf_counter() - started) * per_100mb)
            assert (digest, size) == (doc["sha256"], doc["size"])
            (root / "before.tar.zst").unlink()
            client = HttpClient(node.url)
            try:
                cpu_start, started = _cpu_seconds(node.process.pid), time.perf_counter()
                client.download(doc["id"], root / "served.tar.zst")
                wall.append((time.perf_counter() - started) * per_100mb)
                cpu.append((_cpu_seconds(node.process.pid) - cpu_start) * per_100mb)
            finally:
                client.close()
        print(f"serving an environment of cached fragments ({doc['size'] / MB:.0f} MB; cold build of "
              f"{cold['size'] / MB:.0f} MB took {cold['progress']['seconds']:.2f} s), median of {runs}:")
        new, old = statistics.median(builds), statistics.median(before)
        print(f"  build of a new combination (server-recorded build time: hash, recipe, store "
              f"writes): {new:.3f} s/100MB, of which hashing {statistics.median(hashing):.3f}; the "
              f"concatenation the build wrote before: {old:.3f} s/100MB; ratio {new / old:.2f}")
        print(f"  download through the API: server CPU {statistics.median(cpu):.3f} s/100MB, "
              f"wall {statistics.median(wall):.3f} s/100MB (client verifies sha256)")
    finally:
        node.stop()
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
        serving_figures(Path(tmp))
        if sys.argv[1:] != ["serving"]:
            gc_figures(Path(tmp))
            download_figures(Path(tmp))
