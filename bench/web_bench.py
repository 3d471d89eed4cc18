"""Web UI benchmark: how long each page takes on a store filled with realistic data.

    python bench/web_bench.py [--environments 300] [--packages 100] [--runs 20]

Fills a fresh store (the embedded SQLite of a temp data dir) with a synthetic package
universe of --packages projects (2 to 3 versions each; a layered dependency graph about as deep
and wide as jupyter's: 6 levels, 1 to 5 dependencies each) and --environments environment
records: one "jupyter" environment that holds every package, the others a few roots each with
their closure, statuses mostly ready (some failed, queued, building), with locks (two files and
hashes a package), manifests, timings and the package rows and core metadata the impact queries
read, and 20 OSV advisories. Then starts a real `venvd serve` on that data and times each page
over HTTP: the median and the max of --runs GETs after one warm-up. The goal: every page
< 200 ms on this machine. Results also go to bench/results/web-<time>.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from resolve_bench import Server

from venvd.dist import CoreMetadata
from venvd.lock import Lock
from venvd.service import Service, Settings

ROOT = Path(__file__).resolve().parent.parent
GOAL_MS = 200.0
LEVELS = 6
TARGET = {"marker_environment": {
    "implementation_name": "cpython", "implementation_version": "3.12.3", "os_name": "posix",
    "platform_machine": "x86_64", "platform_python_implementation": "CPython",
    "platform_release": "", "platform_system": "Linux", "platform_version": "",
    "python_full_version": "3.12.3", "python_version": "3.12", "sys_platform": "linux"},
    "compatible_tags": ["cp312-cp312-manylinux_2_28_x86_64", "cp312-abi3-manylinux_2_28_x86_64",
                        "py3-none-manylinux_2_28_x86_64", "py3-none-any"]}


def universe(count: int, rng: random.Random) -> dict[str, dict[str, Any]]:
    """name -> {"versions": [...], "level": n, "deps": [names of deeper levels]}."""
    names = [f"pkg-{i:03d}" for i in range(count)]
    projects: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        level = min(LEVELS - 1, i * LEVELS // count)
        projects[name] = {"level": level, "versions": [f"{rng.randint(0, 3)}.{m}.{rng.randint(0, 9)}"
                                                      for m in range(rng.randint(2, 3))]}
    for project in projects.values():
        deeper = [n for n, p in projects.items() if p["level"] > project["level"]]
        project["deps"] = sorted(rng.sample(deeper, min(len(deeper), rng.randint(1, 5))))
    return projects


def closure(roots: list[str], projects: dict[str, dict[str, Any]]) -> list[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(projects[name]["deps"])
    return sorted(seen)


def fill(service: Service, projects: dict[str, dict[str, Any]], count: int,
         rng: random.Random) -> dict[str, str]:
    """Write metadata and `count` environments; the ids of some to time."""
    store = service.store
    for name, project in projects.items():
        for version in project["versions"]:
            store.put_metadata(f"{name}-{version}", CoreMetadata.create(
                name, version, requires_dist=[f"{d}>=0" for d in project["deps"]]))
    top = [n for n, p in projects.items() if p["level"] == 0]
    statuses = ["ready"] * 17 + ["failed", "queued", "building"]
    chosen: dict[str, str] = {}
    for i in range(count):
        roots = list(top) if i == 0 else sorted(rng.sample(top, rng.randint(1, 3)))
        names = closure(roots, projects) if i else sorted(projects)
        pins = {n: rng.choice(projects[n]["versions"]) for n in names}
        lock = {"target": TARGET, "requirements": roots, "constraints": [],
                "packages": [{"name": n, "version": v, "requires_python": ">=3.8",
                              "dependencies": [f"{d}>=0" for d in projects[n]["deps"]],
                              "index": "https://pypi.org/simple",
                              "files": [{"filename": f"{n.replace('-', '_')}-{v}-{tag}.whl",
                                         "url": f"https://files.example/{n}-{v}-{tag}.whl",
                                         "sha256": hashlib.sha256(f"{n}{v}{tag}".encode()).hexdigest(),
                                         "size": 100_000, "upload_time": None}
                                        for tag in ("py3-none-any", "cp312-cp312-manylinux_2_28_x86_64")]}
                             for n, v in sorted(pins.items())]}
        lock = Lock.from_json(lock).to_json()  # with its id, as a real lock
        env_id = hashlib.sha256(f"env-{i}".encode()).hexdigest()
        status = "ready" if i == 0 else statuses[i % len(statuses)]
        store.create_environment(env_id, f"lock-{i}", "target-" + ("a" if i % 3 else "b"),
                                 status, roots=roots, lock=lock)
        fields: dict[str, Any] = {}
        if status == "ready":
            fields = {"size": rng.randint(5, 400) * 1_000_000, "sha256": "0" * 64,
                      "manifest": {"packages": len(pins), "format": "venvd-env-v1"},
                      "progress": {"step": "done", "done": 1, "total": 1,
                                   "timings": {"download": 1.2, "install": 3.4, "pack": 0.8,
                                               "total": 5.4}}}
        elif status == "failed":
            fields = {"error": {"code": "build_error", "message": "a build failed"}}
        elif status == "building":
            fields = {"progress": {"step": "install", "done": 3, "total": len(pins)}}
        if fields:
            store.update_environment(env_id, **fields)
        store.set_environment_packages(env_id, sorted(pins.items()))
        if i == 0:
            chosen["jupyter"] = env_id
        elif status == "ready" and "small" not in chosen:
            chosen["small"] = env_id
    # 20 advisories, each on one package's versions below a fix: a few hundred affected rows.
    service.advisories.import_documents([(f"bench-{n}.json", {
        "schema_version": "1.6.0", "id": f"PYSEC-2026-{n:04d}", "modified": "2026-11-01T00:00:00Z",
        "summary": f"advisory {n}", "affected": [{"package": {"ecosystem": "PyPI", "name": name},
                                                  "ranges": [{"type": "ECOSYSTEM", "events": [
                                                      {"introduced": "0"}, {"fixed": "2.1"}]}]}]})
        for n, name in enumerate(sorted(projects)[::5])])
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--environments", type=int, default=300)
    parser.add_argument("--packages", type=int, default=100)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(10)
    work = Path(tempfile.mkdtemp(prefix="venvd-web-bench-"))
    settings: dict[str, Any] = {"data_dir": work / "data", "index_url": "http://127.0.0.1:9/simple"}
    projects = universe(args.packages, rng)
    started = time.perf_counter()
    with Service.open(Settings(**settings)) as service:
        ids = fill(service, projects, args.environments, rng)
    print(f"filled {args.environments} environments over {args.packages} projects in "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    jupyter, small = ids["jupyter"], ids["small"]
    leaf = max(projects, key=lambda n: projects[n]["level"])
    common = "pkg-050"
    pages = [
        "/", "/?page=3", "/?status=ready", f"/?package={common}&specifier=%3E%3D1",
        "/?q=pkg-00", f"/environments/{jupyter}", f"/environments/{small}",
        f"/environments/{jupyter}/graph", f"/environments/{jupyter}/graph?highlight={leaf}",
        f"/environments/{jupyter}/why/{leaf}", f"/environments/{jupyter}/requirements.txt",
        f"/environments/{jupyter}/pylock.toml", "/packages", "/packages?q=pkg-0",
        f"/packages/{common}", f"/packages/{common}?specifier=%3C2", "/advisories",
        f"/advisories?package={common}", "/request",
    ]
    server = Server(work / "data", "http://127.0.0.1:9/simple")
    rows = []
    try:
        for path in pages:
            answer = server.http.get(path)  # warm-up (and a check)
            if answer.status_code != 200:
                raise SystemExit(f"{path}: {answer.status_code} {answer.text[:300]}")
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                server.http.get(path).raise_for_status()
                times.append((time.perf_counter() - t0) * 1000)
            rows.append({"page": path.replace(jupyter, "<jupyter>").replace(small, "<small>"),
                         "median_ms": round(statistics.median(times), 1),
                         "max_ms": round(max(times), 1), "bytes": len(answer.content)})
    finally:
        server.stop()
    width = max(len(r["page"]) for r in rows)
    print(f"{'page':{width}}  median ms  max ms   KB")
    for r in rows:
        flag = "" if r["median_ms"] < GOAL_MS else f"  over {GOAL_MS:.0f} ms"
        print(f"{r['page']:{width}}  {r['median_ms']:9.1f}  {r['max_ms']:6.1f}  "
              f"{r['bytes'] / 1000:5.1f}{flag}")
    out = ROOT / "bench" / "results" / f"web-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"environments": args.environments, "packages": args.packages,
                               "runs": args.runs, "pages": rows}, indent=2) + "\n")
    print(f"results: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
