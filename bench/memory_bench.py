"""Server memory after many distinct resolutions (not a timed test): `python bench/memory_bench.py`.

    python bench/memory_bench.py [--resolutions 1000] [--projects 300] [--versions 5] [--set NAME=VALUE ...]

Builds a local index (tests/support: real wheels behind a real HTTP index) of `--projects` projects
in `--versions` versions each (m<i> depends on m<i+1/2 of the projects> for the first half: closures
of two to four projects), starts a real `venvd serve` on it (its own data dir, SQLite), and posts
`--resolutions` distinct resolutions (distinct requirement and constraint sets, over five targets:
every one a cache miss that resolves). Prints the server's RSS (VmRSS and its peak, VmHWM, from
/proc) every 100 resolutions. Goal: under 500 MB after 1,000 distinct resolutions; the process caches
(memo_metadata_entries, memo_page_entries, resolution_cache_entries/_weight, recipe_cache_entries)
are what keeps it flat once they are full.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fleet._objects_support import ServeProcess
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex

TARGETS = [{"python": p, "platform": "manylinux_2_28_x86_64"}
           for p in ("3.9", "3.10", "3.11", "3.12", "3.13")]


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of `pid` in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def build_index(root: Path, projects: int, versions: int) -> LocalIndex:
    index = LocalIndex(root / "index").start()
    half = projects // 2
    for i in range(projects):
        requires = [f"m{i + half}>=1"] if i < half else []
        for v in range(1, versions + 1):
            index.add(make_wheel(root / "src", f"m{i}", f"{v}.0", requires_dist=requires,
                                 files={f"m{i}/__init__.py": f"V = {v}\n" * 20}))
    return index


def requests(count: int, projects: int, versions: int) -> list[dict[str, object]]:
    """`count` distinct resolve bodies (distinct keys: requirements, constraints and target)."""
    rng = random.Random(8)
    seen: set[tuple[object, ...]] = set()
    bodies: list[dict[str, object]] = []
    while len(bodies) < count:
        names = sorted(rng.sample(range(projects), 3))
        bound = rng.randint(1, versions)
        target = rng.randrange(len(TARGETS))
        key = (*names, bound, target)
        if key in seen:
            continue
        seen.add(key)
        bodies.append({"requirements": [f"m{n}" for n in names],
                       "constraints": [f"m{names[0]}<={bound}.0"], "target": TARGETS[target]})
    return bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", type=int, default=1000)
    parser.add_argument("--projects", type=int, default=300)
    parser.add_argument("--versions", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a server setting, e.g. resolution_cache_entries=200")
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.set)
    with tempfile.TemporaryDirectory(prefix="venvd-memory-bench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        index = build_index(root, args.projects, args.versions)
        print(f"index: {args.projects} projects x {args.versions} versions "
              f"({time.perf_counter() - started:.1f} s to build)")
        node = ServeProcess(root / "data", index, auth="off", **settings)
        try:
            pid = node.process.pid
            print(f"venvd serve started: RSS {rss_mb(pid)[0]:.0f} MB")
            with httpx.Client(base_url=node.url, timeout=300) as http:
                started = time.perf_counter()
                for n, body in enumerate(requests(args.resolutions, args.projects, args.versions), 1):
                    answer = http.post("/v1/resolve", json=body)
                    if answer.status_code != 200:
                        raise SystemExit(f"resolution {n} failed: {answer.text[:500]}")
                    if answer.json().get("cached"):
                        raise SystemExit(f"resolution {n} was a cache hit: the bodies must differ")
                    if n % 100 == 0:
                        rss, peak = rss_mb(pid)
                        print(f"{n:5d} distinct resolutions: RSS {rss:6.0f} MB, peak {peak:6.0f} MB "
                              f"({time.perf_counter() - started:.0f} s)")
            rss, peak = rss_mb(pid)
            verdict = "under" if peak < 500 else "OVER"
            print(f"after {args.resolutions} distinct resolutions: RSS {rss:.0f} MB, peak {peak:.0f} MB "
                  f"({verdict} the 500 MB goal); pid {pid}, python {sys.version.split()[0]}, "
                  f"{os.cpu_count()} cores")
        finally:
            node.stop()
            index.stop()


if __name__ == "__main__":
    main()
