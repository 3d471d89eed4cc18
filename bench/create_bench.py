"""Environment benchmark: `venvd create` vs `uv venv && uv pip install`, same index, one run.

    python bench/create_bench.py [--sets seed,jupyter] [--runs 3] [--index-url URL]

For each set (../shared/bench/<set>.in), medians of --runs:
  client   `venvd create` to a usable venv against a warm server (artifact built):
             fresh    an empty client cache            vs `uv venv && uv pip install --no-cache`
             again    the same environment into a new directory, client cache warm
                                                       vs the same with uv's cache warm, `--offline`
             second   a second environment (the set plus `rich`), the cache warm from the first
                                                       vs uv `--offline`, its cache warm with both
  server   build time cold (empty data dir: download + install + pack), from cached wheels (install +
           pack), and from cached fragments (assembly only: the per-100 MB design target)
  floor    Python's start-up plus the imports `venvd create` needs (no work at all), the same runs:
           what a warm row cannot go below in this implementation
Goals: fresh <= 0.5 x uv cold, again and second <= 0.5 x uv warm. Results also go to
bench/results/create-<time>.json.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from resolve_bench import (
    BIN,
    PLATFORM,
    PYTHON,
    SETS_DIR,
    Server,
    compile_bytecode,
    request_body,
    run_sets,
    timed,
)

ROOT = Path(__file__).resolve().parent.parent
# What the second environment adds to each set: a few packages the first does not have.
SECOND_EXTRA = "rich"
# The modules a warm `venvd create` imports before it does any work (its start-up floor),
# httpcore included: httpx imports it when the client is made, before the first request.
FLOOR_IMPORTS = ("import venvd.cli._main, venvd.cli._env, venvd.cli._options, venvd.cli._documents, "
                 "venvd.inputs._read, venvd.client._http, venvd.materialize, venvd.target, httpcore")


def build(server: Server, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """POST the environment and wait until it is ready; (the build's own seconds, final status).

    The build's own time (recorded by the server in the final progress) leaves out the request's
    resolution or lock check, which on a fresh store fetch project pages from the index."""
    started = time.perf_counter()
    doc = httpx.post(f"{server.url}/v1/environments", json=body, timeout=3600).json()
    while doc["status"] not in ("ready", "failed"):
        time.sleep(0.05)
        doc = httpx.get(f"{server.url}/v1/environments/{doc['id']}", timeout=60).json()
    elapsed = time.perf_counter() - started
    if doc["status"] != "ready":
        raise SystemExit(f"build failed: {doc['error']}")
    return float((doc.get("progress") or {}).get("seconds", elapsed)), doc


def host_body(req: Path) -> dict[str, Any]:
    from venvd.target import Target

    return {**request_body(req), "target": Target.current().to_json()}


def bench_set(name: str, runs: int, index_url: str, work: Path) -> dict[str, Any]:
    req = SETS_DIR / f"{name}.in"
    body = host_body(req)
    pins = work / f"{name}-pins.txt"
    out = subprocess.run(
        [
            str(BIN / "venvd"),
            "resolve",
            "-r",
            str(req),
            "--format",
            "requirements",
            "--index-url",
            index_url,
            "--data-dir",
            str(work / "resolve-data"),
            "-o",
            str(pins),
        ],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    lock_out = subprocess.run(
        [
            str(BIN / "venvd"),
            "resolve",
            "-r",
            str(req),
            "--index-url",
            index_url,
            "--data-dir",
            str(work / "resolve-data"),
        ],
        capture_output=True,
        text=True,
    )
    # Server timings build from the lock, so that they measure building, not resolving.
    lock_body = {"lock": json.loads(lock_out.stdout), "target": body["target"]}
    result: dict[str, Any] = {"set": name}

    cold, from_wheels, from_fragments, size = [], [], [], 0
    for i in range(runs):
        data = work / f"server-{name}-{i}"
        server = Server(data, index_url)
        try:
            seconds, doc = build(server, lock_body)
            cold.append(seconds)
            size = doc["size"]
        finally:
            server.stop()
        for keep, bucket in ((("wheels-v1",), from_wheels), (("wheels-v1", "fragments-v1"), from_fragments)):
            again = work / f"server-{name}-{i}-{len(keep)}"
            (again / "cache").mkdir(parents=True)
            for sub in keep:
                shutil.copytree(data / "cache" / sub, again / "cache" / sub)
            server = Server(again, index_url)
            try:
                bucket.append(build(server, lock_body)[0])
            finally:
                server.stop()
    result["server"] = {
        "cold": statistics.median(cold),
        "from_wheels": statistics.median(from_wheels),
        "from_fragments": statistics.median(from_fragments),
        "artifact_bytes": size,
    }

    second_req = work / f"{name}-second.in"
    second_req.write_text(req.read_text() + "\n" + SECOND_EXTRA + "\n")
    second_pins = work / f"{name}-second-pins.txt"
    resolve_pins(second_req, index_url, work, second_pins)

    def create(dest: Path, requirements: Path, cache: Path, url: str) -> float:
        env = {"VENVD_CLIENT_CACHE_DIR": str(cache)}
        return timed([str(BIN / "venvd"), "create", str(dest), "-r", str(requirements), "--server", url],
                     env=env)

    server = Server(work / f"server-{name}-0", index_url)
    fresh, again, second = [], [], []
    try:
        build(server, body)  # warm: the resolution and the artifact are there
        build(server, host_body(second_req))
        for i in range(runs):
            cache = work / f"client-cache-{name}-{i}"
            fresh.append(create(work / f"venvd-env-{name}-{i}", req, cache, server.url))
            again.append(create(work / f"venvd-again-{name}-{i}", req, cache, server.url))
            second.append(create(work / f"venvd-second-{name}-{i}", second_req, cache, server.url))
            for dest in ("env", "again", "second"):
                shutil.rmtree(work / f"venvd-{dest}-{name}-{i}")
            shutil.rmtree(cache)
    finally:
        server.stop()

    def uv_install(cache: Path, dest: Path, requirements: Path, *extra: str) -> float:
        started = time.perf_counter()
        for cmd in (
            [str(BIN / "uv"), "venv", "-q", "--python", sys.executable, str(dest), "--cache-dir", str(cache)],
            [
                str(BIN / "uv"),
                "pip",
                "install",
                "-q",
                "-r",
                str(requirements),
                "--python",
                str(dest / "bin" / "python"),
                "--index-url",
                index_url,
                "--cache-dir",
                str(cache),
                *extra,
            ],
        ):
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(done.stderr)
        return time.perf_counter() - started

    uv_cold, uv_warm, uv_second = [], [], []
    warm_cache = work / f"uv-warm-{name}"
    uv_install(warm_cache, work / f"uv-prime-{name}", pins)
    uv_install(warm_cache, work / f"uv-prime-second-{name}", second_pins)
    for i in range(runs):
        cache = work / f"uv-cold-{name}-{i}"
        uv_cold.append(uv_install(cache, work / f"uv-env-cold-{name}-{i}", pins, "--no-cache"))
        shutil.rmtree(cache, ignore_errors=True)
        uv_warm.append(uv_install(warm_cache, work / f"uv-env-warm-{name}-{i}", pins, "--offline"))
        uv_second.append(uv_install(warm_cache, work / f"uv-env-second-{name}-{i}", second_pins,
                                    "--offline"))
    floor = [timed([sys.executable, "-c", FLOOR_IMPORTS]) for _ in range(runs)]
    result["client"] = {
        "floor": statistics.median(floor),
        "venvd_fresh": statistics.median(fresh),
        "venvd_again": statistics.median(again),
        "venvd_second": statistics.median(second),
        "uv_cold": statistics.median(uv_cold),
        "uv_warm": statistics.median(uv_warm),
        "uv_second": statistics.median(uv_second),
    }
    return result


def resolve_pins(req: Path, index_url: str, work: Path, out: Path) -> None:
    done = subprocess.run(
        [str(BIN / "venvd"), "resolve", "-r", str(req), "--format", "requirements", "--index-url", index_url,
         "--data-dir", str(work / "resolve-data"), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)


def main() -> None:
    # The client rows measure making venvs; a resolution going stale mid-run would make the server
    # revalidate project pages against the public index inside a timed `venvd create`.
    os.environ.setdefault("VENVD_RESOLUTION_TTL", "86400")
    os.environ.setdefault("VENVD_PAGE_TTL", "86400")
    compile_bytecode()  # as an installed venvd: its commands do not compile venvd each time
    results = run_sets(__doc__.splitlines()[0], "seed,jupyter", "venvd-create-bench-", bench_set)
    print(f"target: this interpreter (Python {PYTHON} host, {PLATFORM}-class Linux)")
    print(f"{'set':8} {'row':7} {'venvd':>8} {'uv':>8} {'ratio':>6}  (goal <= 0.5)")
    for r in results:
        c = r["client"]
        for row, venvd, uv in (("fresh", "venvd_fresh", "uv_cold"), ("again", "venvd_again", "uv_warm"),
                               ("second", "venvd_second", "uv_second")):
            print(f"{r['set']:8} {row:7} {c[venvd]:8.3f} {c[uv]:8.3f} {c[venvd] / c[uv]:6.2f}")
        print(f"{r['set']:8} {'floor':7} {c['floor']:8.3f} {c['uv_warm']:8.3f} "
              f"{c['floor'] / c['uv_warm']:6.2f}  (start-up + imports only, vs uv warm)")
    print(
        f"{'set':8} {'build cold':>11} {'from wheels':>12} {'from frags':>11} {'MB':>7} "
        f"{'s/100MB (frags)':>16}"
    )
    for r in results:
        s = r["server"]
        mb = s["artifact_bytes"] / 1e6
        print(
            f"{r['set']:8} {s['cold']:11.3f} {s['from_wheels']:12.3f} {s['from_fragments']:11.3f} "
            f"{mb:7.1f} {s['from_fragments'] / mb * 100:16.3f}"
        )
    dest = ROOT / "bench" / "results"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / f"create-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
