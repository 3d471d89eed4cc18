"""Universal-lock benchmark: venvd `targets` vs `uv pip compile --universal`, same index, one run.

    python bench/universal_bench.py [--sets seed,trio] [--runs 3] [--index-url URL]

venvd locks for TARGETS (Linux x86_64, macOS arm64, Windows AMD64, each on Python 3.11 and 3.12: six
resolutions merged); uv locks once for every environment with Python >= 3.11 (its forking resolver).
The two answer slightly different questions (venvd: exactly these targets; uv: every environment), so
the ratios compare what a user waits for to get a multi-platform lock. For each set (medians of --runs):
  (a) a cache-hit request to a running `venvd serve`   vs uv warm `--offline`
  (c) cold: empty data dir, in-process `venvd resolve` vs uv `--no-cache`
and prints venvd/uv ratios (goals: a <= 0.3, c <= 1.0). Results also go to
bench/results/universal-<time>.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from resolve_bench import BIN, ROOT, SETS_DIR, Server, cold_row, median, post, run_sets, timed

TARGETS = [(python, platform) for python in ("3.11", "3.12")
           for platform in ("manylinux_2_28_x86_64", "macosx_14_0_arm64", "win_amd64")]


def uv_cmd(req: Path, index_url: str, cache: Path, *extra: str) -> list[str]:
    return [str(BIN / "uv"), "pip", "compile", str(req), "--universal", "--python-version", "3.11",
            "--index-url", index_url, "--generate-hashes", "--cache-dir", str(cache), "--quiet",
            "--no-header", *extra]


def venvd_cli(req: Path, *extra: str) -> list[str]:
    targets = [arg for python, platform in TARGETS for arg in ("--target", f"{python}:{platform}")]
    return [str(BIN / "venvd"), "resolve", "-r", str(req), *targets, *extra]


def request_body(req: Path) -> dict[str, Any]:
    lines = [line.split("#", 1)[0].strip() for line in req.read_text().splitlines()]
    return {"requirements": [line for line in lines if line],
            "targets": [{"python": python, "platform": platform} for python, platform in TARGETS]}


def bench_set(name: str, runs: int, index_url: str, work: Path) -> dict[str, Any]:
    req = SETS_DIR / f"{name}.in"
    out: dict[str, Any] = {"set": name, "targets": len(TARGETS)}
    out["c_cold"] = cold_row(name, req, runs, index_url, work, venvd_cli, uv_cmd)
    uv_cache = work / f"uv-cache-{name}"
    timed(uv_cmd(req, index_url, uv_cache))  # warm uv
    server = Server(work / f"server-{name}", index_url)
    try:
        body = request_body(req)
        post(server, body, refresh=False)  # warm the server
        # Let the server's background writes of six resolutions' pages and metadata end: a cache
        # hit is measured in the steady state, not against that burst.
        time.sleep(3)
        hits = [post(server, body, refresh=False) for _ in range(max(runs, 5))]
        pins = len(server.http.post("/v1/resolve", json=body).json()["packages"])
    finally:
        server.stop()
    uv_offline = [timed(uv_cmd(req, index_url, uv_cache, "--offline")) for _ in range(max(runs, 5))]
    out["a_cache_hit"] = {"venvd": median(hits), "uv": median(uv_offline)}
    out["venvd_pins"] = pins
    return out


def main() -> None:
    results = run_sets(__doc__.splitlines()[0], "seed,trio", "venvd-universal-", bench_set)
    goals = {"a_cache_hit": 0.3, "c_cold": 1.0}
    print(f"{'set':8} {'case':12} {'venvd s':>9} {'uv s':>9} {'ratio':>7} {'goal':>6}  note")
    for r in results:
        for case, goal in goals.items():
            v, u = r[case]["venvd"], r[case]["uv"]
            note = f"{r['targets']} targets, {r['venvd_pins']} pins"
            print(f"{r['set']:8} {case:12} {v:9.3f} {u:9.3f} {v / u:7.2f} {goal:6.1f}  {note}")
    dest = ROOT / "bench" / "results"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / f"universal-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(
        json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
