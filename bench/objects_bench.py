"""Object store, serving and GC figures (not a timed test).

    python bench/objects_bench.py [serving] [--before /path/to/other/venvd/python]


- serving an environment of cached fragments (the issue's "server work per 100 MB"), against a real
  `venvd serve` on a local index of ten 10 MB wheels: the build of a new combination of cached
  fragments per 100 MB (wall as the server records it, and the server's CPU time from
  /proc/<pid>/stat), and the server's CPU to stream it; with `--before PYTHON` the same rows for
  another venvd (e.g. main's, which concatenated the fragments into one file), in the same run;
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


class _Node:
    """`python -m venvd serve` on a loopback port (`python`: this checkout's, or another venvd's)."""

    def __init__(self, python: str, data_dir: Path, index: LocalIndex) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("VENVD_")},
               "VENVD_DATA_DIR": str(data_dir), "VENVD_INDEX_URL": index.url, "VENVD_AUTH": "off"}
        self.process = subprocess.Popen(
            [python, "-m", "venvd", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(f"{self.url}/v1/health", self.process, seconds=120)


def _serving_rows(python: str, data: Path, index: LocalIndex, runs: int) -> dict[str, float]:
    """Per 100 MB, medians of `runs`: a new combination of cached fragments built from a posted
    lock (the server's recorded build time; its CPU from request to ready, status polls
    included), then downloaded (the server's CPU; the client's wall time, sha256 verified)."""
    node = _Node(python, data, index)
    target = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}
    rows: dict[str, list[float]] = {"build": [], "build_cpu": [], "download_cpu": [], "download": []}
    try:
        _ready(node.url, {"requirements": [f"blob{i}" for i in range(10)], "target": target})
        for run in range(runs):
            names = [f"blob{i}" for i in range(10) if i != run]  # nine of ten: all cached
            lock = httpx.post(f"{node.url}/v1/resolve", json={"requirements": names, "target": target},
                              timeout=600).json()
            lock = {k: v for k, v in lock.items() if k not in ("cached", "timings", "stats")}
            cpu_start = _cpu_seconds(node.process.pid)
            doc = _ready(node.url, {"lock": lock, "target": target})
            per_100mb = 100 * MB / doc["size"]
            rows["build_cpu"].append((_cpu_seconds(node.process.pid) - cpu_start) * per_100mb)
            rows["build"].append(doc["progress"]["seconds"] * per_100mb)
            client = HttpClient(node.url)
            try:
                cpu_start, started = _cpu_seconds(node.process.pid), time.perf_counter()
                client.download(doc["id"], data.parent / "served.tar.zst")
                rows["download"].append((time.perf_counter() - started) * per_100mb)
                rows["download_cpu"].append((_cpu_seconds(node.process.pid) - cpu_start) * per_100mb)
            finally:
                client.close()
    finally:
        stop(node.process)
    return {name: statistics.median(values) for name, values in rows.items()}


def serving_figures(root: Path, before: str | None = None, runs: int = 3) -> None:
    """The serving rows for this checkout, and for `before` (another venvd's python) if given,
    on one local index of ten 10 MB wheels (random bytes: fragments of about 10 MB each)."""
    index = LocalIndex(root / "serving-index").start()
    try:
        for i in range(10):
            index.add(make_wheel(root / "serving-src", f"blob{i}", "1.0",
                                 files={f"blob{i}/__init__.py": "",
                                        f"blob{i}/data.bin": os.urandom(10 * MB)}))
        nodes = {"this checkout": sys.executable, **({"before": before} if before else {})}
        results = {label: _serving_rows(python, root / f"serving-{n}" / "data", index, runs)
                   for n, (label, python) in enumerate(nodes.items())}
    finally:
        index.stop()
    print(f"serving an environment of cached fragments (about 90 MB), per 100 MB, median of {runs}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores:")
    print(f"  {'server':15} {'build':>8} {'build CPU':>10} {'download CPU':>13} {'download':>9}")
    for label, r in results.items():
        print(f"  {label:15} {r['build']:8.3f} {r['build_cpu']:10.3f} {r['download_cpu']:13.3f} "
              f"{r['download']:9.3f}")
    if before:
        new, old = results["this checkout"], results["before"]
        print("  ratios this/before: " + ", ".join(f"{k} {new[k] / old[k]:.2f}" for k in new))


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
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="?", choices=["serving"], help="the serving figures only")
    parser.add_argument("--before", metavar="PYTHON",
                        help="also measure the serving rows with this python's venvd "
                             "(e.g. a checkout of main: /path/to/main/.venv/bin/python)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        serving_figures(Path(tmp), before=args.before)
        if args.only is None:
            gc_figures(Path(tmp))
            download_figures(Path(tmp))
