"""Interpreter probe benchmark: describing the interpreter of `venvd create`, vs uv querying it.

    python bench/probe_bench.py [--runs 11] [--python PATH ...]

For each interpreter (default: this one, the first other python3 on PATH, pypy3 when present),
medians of --runs fresh processes:
  phase    the probe phase of `venvd create` after imports (target + materialize's interpreter
           check): milliseconds and probe children started
  command  a whole process that describes the interpreter (`python -c "probe_interpreter(X)"`)
           vs `uv --no-cache python find X` (uv runs its own query script in X; no cache to answer
           from), the ratio venvd/uv
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time

PHASE = r"""
import json, sys, time
from venvd.materialize import check_interpreter
from venvd.target import probe_interpreter
from venvd.target._interpreter import probe_runs
started = time.perf_counter()
info = probe_interpreter(sys.argv[1])
check_interpreter(info.target_json(), info.executable)
print(json.dumps({"ms": (time.perf_counter() - started) * 1000, "children": probe_runs()}))
"""
COMMAND = "import sys; from venvd.target import probe_interpreter; probe_interpreter(sys.argv[1])"


def _median_phase(python: str, runs: int) -> tuple[float, int]:
    results = [json.loads(subprocess.run([sys.executable, "-c", PHASE, python], check=True,
                                         capture_output=True, text=True).stdout)
               for _ in range(runs)]
    return statistics.median(r["ms"] for r in results), max(r["children"] for r in results)


def _median_command(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--python", action="append", default=[])
    args = parser.parse_args()
    pythons = args.python or [p for p in (sys.executable, shutil.which("python3"),
                                          shutil.which("pypy3")) if p]
    uv = shutil.which("uv") or str(__import__("pathlib").Path(sys.executable).parent / "uv")
    print(f"{'interpreter':<40} {'phase ms':>9} {'children':>8} {'venvd cmd':>10} {'uv cmd':>8} "
          f"{'ratio':>6}")
    for python in pythons:
        phase, children = _median_phase(python, args.runs)
        ours = _median_command([sys.executable, "-c", COMMAND, python], args.runs)
        theirs = _median_command([uv, "--no-cache", "python", "find", python], args.runs)
        print(f"{python:<40} {phase:>9.1f} {children:>8} {ours:>10.1f} {theirs:>8.1f} "
              f"{ours / theirs:>6.2f}")


if __name__ == "__main__":
    main()
