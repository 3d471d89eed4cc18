"""The package index (`/simple/`) benchmark: project pages through a venvd server over pypi.org.

    python bench/simple_bench.py [--runs 15] [PROJECT ...]      (default: six numpy boto3)

For each project, on a fresh server (empty data dir, pypi.org upstream): the first page request
(cold: upstream fetched and stored), then the median of --runs warm requests in JSON and in HTML
(memory caches), and the median of 5 JSON requests to pypi.org itself (its CDN) for scale. Then one
wheel (the last one the first project's page lists) through the server: first download (fetched from upstream,
verified, stored) and the median of warm ones (served from the cache).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
HTML = {"Accept": "text/html"}


def _timed(client: httpx.Client, url: str, headers: dict[str, str]) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    answer = client.get(url, headers=headers)
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    return elapsed, answer


def _median(client: httpx.Client, url: str, headers: dict[str, str], runs: int) -> float:
    return statistics.median(_timed(client, url, headers)[0] for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("projects", nargs="*", default=["six", "numpy", "boto3"])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    import uvicorn

    from venvd.api import create_app
    from venvd.service import Service, Settings

    data = Path(tempfile.mkdtemp(prefix="venvd-simple-bench-"))
    service = Service.open(Settings(data_dir=data, index_url="https://pypi.org/simple/"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    first_page: dict[str, Any] | None = None
    try:
        with httpx.Client(base_url=base, timeout=300) as local, httpx.Client(timeout=60) as pypi:
            for project in args.projects:
                cold, answer = _timed(local, f"/simple/{project}/", JSON)
                first_page = first_page or answer.json()
                files = len(answer.json()["files"])
                warm_json = _median(local, f"/simple/{project}/", JSON, args.runs)
                warm_html = _median(local, f"/simple/{project}/", HTML, args.runs)
                direct = _median(pypi, f"https://pypi.org/simple/{project}/", JSON, 5)
                print(f"{project}: {files} files; cold {cold * 1000:.0f} ms; warm JSON "
                      f"{warm_json * 1000:.1f} ms, HTML {warm_html * 1000:.1f} ms (median of "
                      f"{args.runs}); pypi.org JSON {direct * 1000:.0f} ms (median of 5)")
            assert first_page is not None
            wheel = [f for f in first_page["files"] if f["filename"].endswith(".whl")][-1]
            url = f"/simple/{args.projects[0]}/{wheel['url']}"
            cold, _ = _timed(local, url, {})
            warm = _median(local, url, {}, args.runs)
            print(f"{wheel['filename']} ({wheel['size']} bytes): first download {cold * 1000:.0f} "
                  f"ms (upstream, verified, stored); warm {warm * 1000:.1f} ms (median of "
                  f"{args.runs})")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        service.close()


if __name__ == "__main__":
    main()
