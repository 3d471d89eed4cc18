"""Resolution benchmark: venvd vs `uv pip compile`, same index, same target, in one run.

    python bench/resolve_bench.py [--sets seed,trio,jupyter,boto3] [--runs 3] [--rows abcd] [--index-url URL]

For each requirement set in ../shared/bench/*.in it measures (medians of --runs), each peer using only
its own caches where the row says "warm":
  (a) a cache-hit request to a running `venvd serve`           vs `uv pip compile --offline`, warm cache
  (b) a fresh resolution for a new target, server metadata warm vs `uv pip compile --offline`, warm cache
  (c) cold: empty data dir, in-process `venvd resolve`          vs `uv pip compile --no-cache`
  (d) the `venvd resolve --server URL` command on a cache hit   vs `uv pip compile --offline` command
      (venvd's bytecode compiled first, as a user's `pip install` leaves it)
and prints venvd/uv ratios (goals: a ≤ 0.3, b ≤ 1.0, c ≤ 1.5, d ≤ 1.5). For (a) and (b) the venvd
figure is the HTTP request as a client sees it; (c) and (d) are whole commands, Python start-up included.
(b) gives each run a new target (another patch release of the same Python: same tags, a new key), so
nothing judged for an earlier target is reused, and no resolution is answered from the cache; it starts
SETTLE seconds after the warming request, once the server's background cache writes are done. uv's
offline run is the peer because it, too, reads only what it has cached. Results also go to
bench/results/resolve-<time>.json. --rows picks the rows (`--rows bd` skips the cold row, most of a run's
time; (b) is measured whenever any of a, b, d is, on the same warm server).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
# The requirement sets live beside the repository; a worktree elsewhere names them by VENVD_BENCH_SETS.
SETS_DIR = Path(os.environ.get("VENVD_BENCH_SETS", ROOT.parent / "shared" / "bench"))
BIN = Path(sys.executable).parent
PYTHON, PLATFORM = "3.11", "manylinux_2_28_x86_64"
UV_PLATFORM = "x86_64-manylinux_2_28"
# Work under the project, not /tmp: on some machines /tmp is a much slower filesystem, and both peers
# must write to the same one.
WORK_ROOT = ROOT / "bench" / "results"
SETTLE = 5.0  # seconds between warming a server and measuring fresh resolutions on it


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr[-2000:]}")
    return elapsed


def median(values: list[float]) -> float:
    return statistics.median(values)


def uv_cmd(req: Path, index_url: str, cache: Path, *extra: str) -> list[str]:
    return [
        str(BIN / "uv"),
        "pip",
        "compile",
        str(req),
        "--python-version",
        PYTHON,
        "--python-platform",
        UV_PLATFORM,
        "--index-url",
        index_url,
        "--generate-hashes",
        "--cache-dir",
        str(cache),
        "--quiet",
        "--no-header",
        *extra,
    ]


def venvd_cli(req: Path, *extra: str) -> list[str]:
    return [
        str(BIN / "venvd"),
        "resolve",
        "-r",
        str(req),
        "--python",
        PYTHON,
        "--platform",
        PLATFORM,
        *extra,
    ]


def compile_bytecode() -> None:
    """Write venvd's bytecode, as `pip install venvd` does at install time: an editable install
    run with PYTHONDONTWRITEBYTECODE (set on this machine) would otherwise compile every venvd
    module from source on every command, about 55 ms of row (d) that no user's install pays."""
    import importlib.util

    spec = importlib.util.find_spec("venvd")
    assert spec is not None and spec.submodule_search_locations
    for location in spec.submodule_search_locations:
        subprocess.run([sys.executable, "-m", "compileall", "-q", location], check=True)


class Server:
    def __init__(self, data_dir: Path, index_url: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"serve-{self.port}.log"
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [
                    str(BIN / "venvd"),
                    "serve",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(data_dir),
                    "--index-url",
                    index_url,
                    "--log-level",
                    "warning",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                    self.http = httpx.Client(base_url=self.url, timeout=3600)
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.proc.kill()
        raise SystemExit(f"venvd serve did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def request_body(req: Path, python: str = PYTHON) -> dict[str, Any]:
    lines = [line.split("#", 1)[0].strip() for line in req.read_text().splitlines()]
    return {
        "requirements": [line for line in lines if line],
        "target": {"python": python, "platform": PLATFORM},
    }


def post(server: Server, body: dict[str, Any], refresh: bool) -> float:
    """One request on the benchmark's kept-alive connection, as a client of a server makes them."""
    headers = {"Cache-Control": "no-cache"} if refresh else {}
    started = time.perf_counter()
    response = server.http.post("/v1/resolve", json=body, headers=headers)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"venvd answered {response.status_code}: {response.text[:500]}")
    return elapsed


def cold_row(name: str, req: Path, runs: int, index_url: str, work: Path,
             venvd_command: Callable[..., list[str]],
             uv_command: Callable[..., list[str]]) -> dict[str, Any]:
    """Row (c): `runs` cold runs of each peer, alternating (venvd on an empty data dir, removed
    after; uv with --no-cache), their medians and every run."""
    cold_venvd, cold_uv = [], []
    for i in range(runs):
        data = work / f"cold-{name}-{i}"
        cold_venvd.append(timed(venvd_command(req, "--data-dir", str(data), "--index-url", index_url)))
        shutil.rmtree(data, ignore_errors=True)
        cold_uv.append(timed(uv_command(req, index_url, work / f"uv-cold-{name}-{i}", "--no-cache")))
    return {"venvd": median(cold_venvd), "uv": median(cold_uv),
            "venvd_runs": cold_venvd, "uv_runs": cold_uv}


def bench_set(name: str, runs: int, index_url: str, work: Path, rows: str = "abcd") -> dict[str, Any]:
    req = SETS_DIR / f"{name}.in"
    out: dict[str, Any] = {"set": name}
    # (c) cold first, so nothing is warm yet.
    if "c" in rows:
        out["c_cold"] = cold_row(name, req, runs, index_url, work, venvd_cli, uv_cmd)
    out["load_average"] = os.getloadavg()
    if not set(rows) & set("abd"):
        return out

    uv_cache = work / f"uv-cache-{name}"
    timed(uv_cmd(req, index_url, uv_cache))  # warm uv
    server = Server(work / f"server-{name}", index_url)
    try:
        body = request_body(req)
        post(server, body, refresh=False)  # warm the server's pages and metadata
        # "Warm" means stored: let the server's background cache writes (every file row of every
        # page) and metadata prefetches finish, as they do between a server's bursts of requests.
        time.sleep(SETTLE)
        # A new target each time (3.11.1, 3.11.2, ...): fresh for the server, same pins.
        n = max(runs, 5)
        fresh = [post(server, request_body(req, f"{PYTHON}.{i + 1}"), refresh=False) for i in range(n)]
        hits = [post(server, body, refresh=False) for _ in range(n)] if "a" in rows else []
        if "d" in rows:
            compile_bytecode()
        hit_cli = [timed(venvd_cli(req, "--server", server.url)) for _ in range(n)] if "d" in rows else []
    finally:
        server.stop()
    uv_offline = [timed(uv_cmd(req, index_url, uv_cache, "--offline")) for _ in range(max(runs, 5))]
    if "a" in rows:
        out["a_cache_hit"] = {"venvd": median(hits), "uv": median(uv_offline)}
    out["b_fresh_warm"] = {"venvd": median(fresh), "uv": median(uv_offline)}
    if "d" in rows:
        out["d_cli_hit"] = {"venvd": median(hit_cli), "uv": median(uv_offline)}
    return out


def run_sets(
    description: str, default_sets: str, prefix: str, bench: Callable[..., Any], rows: bool = False
) -> list[Any]:
    """Parse --sets/--runs/--index-url (and --rows if `rows`) and run
    `bench(set, runs, index_url, work_dir[, rows])` for each set."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sets", default=default_sets)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--index-url", default="https://pypi.org/simple/")
    if rows:
        parser.add_argument("--rows", default="abcd", help="any of a, b, c, d (default abcd)")
    args = parser.parse_args()
    extra = (args.rows,) if rows else ()
    results = []
    WORK_ROOT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=prefix, dir=WORK_ROOT) as tmp:
        for name in args.sets.split(","):
            print(f"== {name}", file=sys.stderr, flush=True)
            results.append(bench(name, args.runs, args.index_url, Path(tmp), *extra))
    return results


def main() -> None:
    results = run_sets(
        __doc__.splitlines()[0], "seed,trio,jupyter,boto3", "venvd-bench-", bench_set, rows=True
    )
    goals = {"a_cache_hit": 0.3, "b_fresh_warm": 1.0, "c_cold": 1.5, "d_cli_hit": 1.5}
    print(f"{'set':8} {'case':13} {'venvd s':>9} {'uv s':>9} {'ratio':>7} {'goal':>6}")
    for r in results:
        for case, goal in goals.items():
            if case not in r:
                continue
            v, u = r[case]["venvd"], r[case]["uv"]
            print(f"{r['set']:8} {case:13} {v:9.3f} {u:9.3f} {v / u:7.2f} {goal:6.1f}")
        print(f"{r['set']:8} load average {' '.join(f'{x:.2f}' for x in r['load_average'])}")
    dest = ROOT / "bench" / "results"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / f"resolve-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
