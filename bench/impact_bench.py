"""Impact query figures on a synthetic inventory (not a timed test):
`python bench/impact_bench.py [--environments N] [--packages P] [--database-url URL]`.

Fills a fresh store (SQLite in a temp dir by default) with N environments holding P packages each,
drawn from a pool of 2,000 names with 20 versions each (stored directly through `Store`, no builds),
and 500 OSV advisories of 3 intervals each; then times the queries the API and the web pages make:
a listing page, a package filter with an exclusive specifier (SQL narrowing + packaging's finish),
a `~=` one, a package search, why and graph of one environment, and advisory impact (first page
and the full count). Median of 5 runs each, milliseconds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from venvd.dist import CoreMetadata
from venvd.service._advisories import AdvisoryService
from venvd.service._impact import ImpactService
from venvd.store import Store, sqlite_url_for

_NAMES = [f"pkg{i:04d}" for i in range(2000)]
_VERSIONS = [f"{major}.{minor}.{patch}" for major in (1, 2) for minor in range(5)
             for patch in (0, 1)]


def _fill(store: Store, environments: int, packages: int, rng: random.Random) -> None:
    for name in _NAMES[:200]:  # edges for why/graph among the first names
        for version in _VERSIONS:
            deps = [n for n in rng.sample(_NAMES[:200], 3) if n != name]
            store.put_metadata(f"sha256:{name}-{version}", CoreMetadata.create(name, version, deps))
    with store.batch():
        for i in range(environments):
            env_id = f"env{i:06d}"
            held = rng.sample(_NAMES[:200], packages // 2) + rng.sample(_NAMES[200:],
                                                                         packages - packages // 2)
            store.create_environment(env_id, f"lock{i}", f"target{i % 4}", "ready",
                                     roots=held[:3], lock={"target": None})
            store.set_environment_packages(env_id, [(n, rng.choice(_VERSIONS)) for n in held])


def _advisories(count: int, rng: random.Random) -> list[tuple[str, Any]]:
    docs = []
    for i in range(count):
        name = rng.choice(_NAMES[:400])
        events = [{"introduced": "0"}, {"fixed": "1.2.0"}, {"introduced": "1.4.0"},
                  {"fixed": "1.4.1"}, {"introduced": "2.0.0"}, {"last_affected": "2.1.1"}]
        docs.append((f"bench-{i}", {"id": f"BENCH-{i}", "modified": "2026-01-01T00:00:00Z",
                                    "affected": [{"package": {"ecosystem": "PyPI", "name": name},
                                                  "ranges": [{"type": "ECOSYSTEM",
                                                              "events": events}]}]}))
    return docs


def _time(label: str, fn: Callable[[], Any]) -> None:
    runs = []
    result: Any = None
    for _ in range(5):
        start = time.perf_counter()
        result = fn()
        runs.append((time.perf_counter() - start) * 1000)
    size = result.get("total", len(result.get("items", result.get("paths", result.get("nodes", [])))))
    print(f"{label:<48} {statistics.median(runs):8.1f} ms   ({size} found)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--environments", type=int, default=5000)
    parser.add_argument("--packages", type=int, default=40)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    rng = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="venvd-impact-bench-") as tmp:
        url = args.database_url or sqlite_url_for(Path(tmp))
        with Store.open(url) as store:
            start = time.perf_counter()
            _fill(store, args.environments, args.packages, rng)
            print(f"filled {args.environments} environments x {args.packages} packages "
                  f"({store.dialect}) in {time.perf_counter() - start:.1f} s")
            impact = ImpactService(store)
            advisories = AdvisoryService(store)
            start = time.perf_counter()
            advisories.import_documents(_advisories(500, rng))
            print(f"imported 500 advisories in {(time.perf_counter() - start) * 1000:.0f} ms")
            _time("list_environments (first page of 50)", impact.list_environments)
            _time("environments_with pkg0001 '<2.0.0'",
                  lambda: impact.environments_with("pkg0001", "<2.0.0"))
            _time("environments_with pkg0001 '~=1.2'",
                  lambda: impact.environments_with("pkg0001", "~=1.2"))
            _time("packages('pkg00', 50)", lambda: impact.packages("pkg00"))
            graph = impact.graph("env000000")
            roots = {n["name"] for n in graph["nodes"] if n["is_root"]}
            child = next((e["child"] for e in graph["edges"] if e["parent"] in roots
                          and e["child"] not in roots), sorted(roots)[0])
            _time(f"why(env000000, {child})", lambda: impact.why("env000000", child))
            _time("graph(env000000)", lambda: impact.graph("env000000"))
            _time("advisories.impact (first 1000)", advisories.impact)


if __name__ == "__main__":
    main()
