"""Fleet benchmark (not a timed test): API nodes and build workers on one PostgreSQL store.

    python bench/fleet_bench.py [--duration 20] [--clients 32] [--envs 60] [--database-url URL]
                                [--queue-url URL] [--load wrk|python] [--skip-builds]

(a) Cache-hit resolutions: the same `POST /v1/resolve` body (a warm resolution) from --clients
    concurrent keep-alive clients for --duration seconds, against 1 and then 2 `venvd serve` processes
    on one PostgreSQL store (the clients split evenly over the nodes): requests/s (in total and per API
    process), p99 latency, non-2xx answers, and each API process's RSS after the run. The load comes
    from `wrk` with a Lua script for the body when installed, else from a bounded Python load generator
    (threads with keep-alive httpx clients; much slower than wrk, so a lower bound): the output says which.
(b) Build throughput: --envs distinct small environments (each: its own wheel plus a shared dependency,
    from a local index this script builds with tests/support/dists.py) POSTed at once to one API node
    with the queue, waited until all are ready, end to end; with 1 and then 2 `venvd worker` processes
    (one build at a time each). Each run asks for other packages, so nothing is cached across runs.

Everything runs on loopback: a fresh PostgreSQL schema (dropped at the end), RabbitMQ with a queue of
this run (deleted at the end). Prints the figures beside the goals (issue 7) and writes
bench/results/fleet-<time>.json. The server is not tuned for this: the figures are what it does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.dists import make_wheel  # noqa: E402
from tests.support.index_server import LocalIndex  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.postgres import postgres_schema  # noqa: E402

WORK_ROOT = ROOT / "bench" / "results"
TARGET = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}
GOALS = {"resolutions_per_s_per_process": 1000.0, "p99_ms": 50.0, "worker_speedup": 1.8,
         "rss_mb": 300.0}




class Proc:
    """A venvd subprocess in its own session, its output in a log file; `stop()` ends it and its
    children."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], work: Path) -> None:
        self.name = name
        self.log_path = work / f"{name}.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "venvd", *argv], env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.url = ""

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_http(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200:
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"{self.name} did not start:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def wait_log(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"{self.name} never logged {text!r}:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def rss_mb(self) -> float:
        """Resident set size of the process (not its children), in MB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the process and its waited-for children so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


class Fleet:
    """The processes of one measurement, sharing the run's store, index and queue."""

    def __init__(self, work: Path, database_url: str, index_url: str, queue_url: str = "",
                 queue_name: str = "") -> None:
        self.work = work
        self.database_url = database_url
        self.index_url = index_url
        self.queue_url = queue_url
        self.queue_name = queue_name
        self.procs: list[Proc] = []

    def env(self, name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VENVD_")}
        env.update({"VENVD_DATA_DIR": str(self.work / name), "VENVD_DATABASE_URL": self.database_url,
                    "VENVD_INDEX_URL": self.index_url, "VENVD_AUTH": "off"})
        if self.queue_url:
            env.update({"VENVD_QUEUE_URL": self.queue_url, "VENVD_QUEUE_NAME": self.queue_name})
        return env

    def api(self) -> Proc:
        name = f"api-{len(self.procs)}"
        port = free_port()
        proc = Proc(name, ["serve", "--port", str(port), "--log-level", "warning"], self.env(name),
                    self.work)
        proc.url = f"http://127.0.0.1:{port}"
        self.procs.append(proc)
        proc.wait_http()
        return proc

    def worker(self) -> Proc:
        name = f"worker-{len(self.procs)}"
        proc = Proc(name, ["worker", "--build-workers", "1", "--log-level", "info"], self.env(name),
                    self.work)
        self.procs.append(proc)
        proc.wait_log(" ready.")
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()




# -- (a) cache-hit resolutions -----------------------------------------------------------------
_WRK_SCRIPT = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {body}
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(url: str, body: dict[str, Any], clients: int, duration: int, work: Path,
            threads: int) -> dict[str, Any]:
    script = work / f"resolve-{uuid.uuid4().hex[:6]}.lua"
    script.write_text(_WRK_SCRIPT.format(body=json.dumps(json.dumps(body))))
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{clients}", f"-d{duration}s", "--latency",
                          "--timeout", "10s", "-s", str(script), f"{url}/v1/resolve"],
                         capture_output=True, text=True, timeout=duration + 60, check=False)
    if out.returncode != 0:
        raise SystemExit(f"wrk failed: {out.stderr}")
    text = out.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", text).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", text).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    return {"rate": rate, "requests": total, "p50_ms": p50, "p99_ms": p99,
            "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(1) if errors else ""}


def run_python_load(url: str, body: dict[str, Any], clients: int,
                    duration: int) -> dict[str, Any]:
    """`clients` threads, each with a keep-alive httpx client, POSTing for `duration` seconds."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    bad = [0] * clients
    payload = json.dumps(body).encode()
    stop_at = time.monotonic() + duration

    def client(n: int) -> None:
        with httpx.Client(timeout=10, headers={"Content-Type": "application/json"}) as http:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    status = http.post(f"{url}/v1/resolve", content=payload).status_code
                except httpx.HTTPError:
                    status = 0
                latencies[n].append(time.perf_counter() - started)
                if status != 200:
                    bad[n] += 1

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=duration + 30)
    elapsed = time.monotonic() - started
    every = sorted(x for per in latencies for x in per)
    if not every:
        raise SystemExit("the load generator got no answer at all")
    return {"rate": len(every) / elapsed, "requests": len(every),
            "p50_ms": statistics.median(every) * 1000,
            "p99_ms": every[min(len(every) - 1, int(len(every) * 0.99))] * 1000,
            "non_2xx": sum(bad), "socket_errors": ""}


def resolutions(work: Path, database_url: str, index: LocalIndex, nodes: int, clients: int,
                duration: int, load: str) -> dict[str, Any]:
    fleet = Fleet(work / f"resolve-{nodes}", database_url, index.url)
    fleet.work.mkdir(parents=True)
    body = {"requirements": ["app", "tool"], "target": TARGET}
    try:
        apis = [fleet.api() for _ in range(nodes)]
        for api in apis:  # the first resolves; then every node answers from the store's cache
            answer = httpx.post(f"{api.url}/v1/resolve", json=body, timeout=120)
            if answer.status_code != 200:
                raise SystemExit(f"{api.name} answered {answer.status_code}: {answer.text[:500]}")
        share = clients // nodes
        with ThreadPoolExecutor(nodes) as pool:
            if load == "wrk":
                runs = list(pool.map(lambda api: run_wrk(api.url, body, share, duration, fleet.work,
                                                         threads=max(1, 2 // nodes)), apis))
            else:
                runs = list(pool.map(lambda api: run_python_load(api.url, body, share, duration),
                                     apis))
        rss = [round(api.rss_mb(), 1) for api in apis]
    finally:
        fleet.stop()
    total = sum(r["rate"] for r in runs)
    return {"api_processes": nodes, "clients": clients, "duration_s": duration, "load": load,
            "rate_total": round(total, 1), "rate_per_process": round(total / nodes, 1),
            "p50_ms": round(max(r["p50_ms"] for r in runs), 2),
            "p99_ms": round(max(r["p99_ms"] for r in runs), 2),
            "non_2xx": sum(r["non_2xx"] for r in runs),
            "socket_errors": [r["socket_errors"] for r in runs if r["socket_errors"]],
            "rss_mb": rss, "per_node": runs}


# -- (b) build throughput -----------------------------------------------------------------------
def builds(work: Path, database_url: str, index: LocalIndex, workers: int, first: int, count: int,
           queue_url: str) -> dict[str, Any]:
    """Resolve every environment's request first (resolutions run on the API node, not on the
    workers), then POST all environments and wait until every one is ready: the workers' build
    throughput, end to end through the queue. The waiting polls one environment at a time (the
    oldest not yet ready), so the client's polling does not compete with the builds for the API
    node's CPU."""
    queue_name = f"venvd-bench-{uuid.uuid4().hex[:12]}"
    fleet = Fleet(work / f"build-{workers}", database_url, index.url, queue_url, queue_name)
    fleet.work.mkdir(parents=True)
    try:
        api = fleet.api()
        procs = [fleet.worker() for _ in range(workers)]
        bodies = [{"requirements": [f"pkg{i}"], "target": TARGET} for i in range(first, first + count)]
        with httpx.Client(base_url=api.url, timeout=300) as http:
            with ThreadPoolExecutor(4) as pool:
                for answer in pool.map(lambda b: http.post("/v1/resolve", json=b), bodies):
                    if answer.status_code != 200:
                        raise SystemExit(f"resolve answered {answer.status_code}: {answer.text[:500]}")
            cpu_before = [p.cpu_seconds() for p in procs]
            started = time.monotonic()
            with ThreadPoolExecutor(4) as pool:
                answers = list(pool.map(lambda b: http.post("/v1/environments", json=b), bodies))
            for answer in answers:
                if answer.status_code not in (200, 202):
                    raise SystemExit(f"create answered {answer.status_code}: {answer.text[:500]}")
            pending = [a.json()["id"] for a in answers]
            posted = time.monotonic() - started
            deadline = started + 600
            failed = 0
            while pending:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{len(pending)} environments not ready in 600 s")
                status = http.get(f"/v1/environments/{pending[0]}").json()["status"]
                if status in ("ready", "failed"):
                    pending.pop(0)
                    failed += status == "failed"
                else:
                    time.sleep(0.02)
            elapsed = time.monotonic() - started
            cpu = sum(p.cpu_seconds() for p in procs) - sum(cpu_before)
    finally:
        fleet.stop()
        _delete_queue(queue_url, queue_name)
    return {"workers": workers, "environments": count, "failed": failed,
            "seconds": round(elapsed, 2), "posting_s": round(posted, 2),
            "per_minute": round(count / elapsed * 60, 1),
            "worker_cpu_s_per_env": round(cpu / count, 3)}


def _delete_queue(url: str, name: str) -> None:
    from kombu import Connection

    with contextlib.suppress(Exception), Connection(url, connect_timeout=5) as conn:
        conn.default_channel.queue_delete(name)


def bench_index(root: Path, envs: int) -> LocalIndex:
    """pkg0..pkg(2*envs-1) ──▶ common; tool 1.0; app 1.0 ──▶ lib>=1 (small pure wheels)."""
    index = LocalIndex(root / "index").start()
    src = root / "dists"
    index.add(make_wheel(src, "common", "1.0"))
    index.add(make_wheel(src, "lib", "1.0"))
    index.add(make_wheel(src, "app", "1.0", requires_dist=["lib>=1"]))
    index.add(make_wheel(src, "tool", "1.0", console_scripts={"tool-hello": "tool:main"},
                         files={"tool/__init__.py": "def main():\n    print('hello')\n"}))
    for i in range(2 * envs):
        index.add(make_wheel(src, f"pkg{i}", "1.0", requires_dist=["common>=1"],
                             files={f"pkg{i}/__init__.py": f"N = {i}\n" + "# pad\n" * 2000}))
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per measurement")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--envs", type=int, default=60, help="environments per build run")
    parser.add_argument("--database-url", default=os.environ.get(
        "VENVD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--queue-url", default=os.environ.get(
        "VENVD_TEST_QUEUE_URL", "amqp://guest:guest@127.0.0.1:5672//"))
    parser.add_argument("--load", choices=["wrk", "python"], default=None,
                        help="load generator (default: wrk when installed)")
    parser.add_argument("--skip-builds", action="store_true", help="only (a)")
    parser.add_argument("--skip-resolutions", action="store_true", help="only (b)")
    args = parser.parse_args()
    load = args.load or ("wrk" if shutil.which("wrk") else "python")
    if load == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk), or use --load python")
    described = ("wrk (Lua script for the POST body)" if load == "wrk" else
                 "Python threads + httpx (bounded; slower than wrk: a lower bound)")
    print(f"load generator: {described}", file=sys.stderr, flush=True)
    results: dict[str, Any] = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpus": os.cpu_count(),
                               "load": load, "goals": GOALS}
    WORK_ROOT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="venvd-fleet-bench-", dir=WORK_ROOT) as tmp, \
            postgres_schema(args.database_url, "venvd_bench") as database_url:
        work = Path(tmp)
        index = bench_index(work, args.envs)
        try:
            results["resolutions"] = []
            for nodes in () if args.skip_resolutions else (1, 2):
                print(f"== (a) cache-hit resolutions, {nodes} API process(es)", file=sys.stderr,
                      flush=True)
                results["resolutions"].append(resolutions(work, database_url, index, nodes,
                                                          args.clients, args.duration, load))
            results["builds"] = []
            if args.skip_builds:
                pass
            elif subprocess.run([sys.executable, "-m", "venvd", "worker", "--help"],
                                capture_output=True, check=False).returncode != 0:
                print("(b) skipped: this venvd has no `worker` command", file=sys.stderr)
            else:
                for n, workers in enumerate((1, 2)):
                    print(f"== (b) builds, {workers} worker(s)", file=sys.stderr, flush=True)
                    results["builds"].append(builds(work, database_url, index, workers,
                                                    n * args.envs, args.envs, args.queue_url))
        finally:
            index.stop()
    report(results)
    dest = ROOT / "bench" / "results" / f"fleet-{time.strftime('%Y%m%dT%H%M%S')}.json"
    dest.write_text(json.dumps(results, indent=2))
    print(f"results: {dest.relative_to(ROOT)}")


def report(results: dict[str, Any]) -> None:
    print(f"(a) cache-hit POST /v1/resolve, load from {results['load']}, {os.cpu_count()} "
          f"CPUs shared with the load generator, PostgreSQL and everything else on the machine")
    print(f"{'API procs':>9} {'req/s':>9} {'req/s/proc':>10} {'goal':>6} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'goal':>5} {'non-2xx':>7}  RSS MB (goal < {GOALS['rss_mb']:.0f})")
    for r in results["resolutions"]:
        print(f"{r['api_processes']:9d} {r['rate_total']:9.0f} {r['rate_per_process']:10.0f} "
              f"{GOALS['resolutions_per_s_per_process']:6.0f} {r['p50_ms']:7.1f} {r['p99_ms']:7.1f} "
              f"{GOALS['p99_ms']:5.0f} {r['non_2xx']:7d}  {r['rss_mb']}")
    runs = results["resolutions"]
    if len(runs) == 2 and runs[0]["rate_total"]:
        print(f"    2 API processes / 1: {runs[1]['rate_total'] / runs[0]['rate_total']:.2f}x")
    if results["builds"]:
        print("(b) distinct small environments (resolved first), POST all then wait all ready")
        print(f"{'workers':>7} {'envs':>5} {'failed':>6} {'seconds':>8} {'envs/min':>9} "
              f"{'worker CPU s/env':>16}")
        for b in results["builds"]:
            print(f"{b['workers']:7d} {b['environments']:5d} {b['failed']:6d} {b['seconds']:8.1f} "
                  f"{b['per_minute']:9.1f} {b['worker_cpu_s_per_env']:16.3f}")
        one, two = results["builds"][0]["per_minute"], results["builds"][-1]["per_minute"]
        results["worker_speedup"] = round(two / one, 2) if one else None
        print(f"    2 workers / 1: {two / one:.2f}x (goal >= {GOALS['worker_speedup']})")


if __name__ == "__main__":
    main()
