"""Fixtures of the access and operations tests: a tiny real index, `venvd serve` as a real
subprocess on a loopback port (its stderr kept for the log lines), the `venvd` CLI as a
subprocess, and a migrated store on SQLite and PostgreSQL.

Test modules import the fixtures they use from here (tests/fleet has no conftest of ours); each
is defined as `<name>_fixture` with `name=<name>`, so that importing it shadows nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from tests.support.ports import free_port
from venvd.store import Store, sqlite_url_for

PY_TARGET = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}


@pytest.fixture(name="small_index")
def small_index_fixture(local_index: Callable[..., LocalIndex], tmp_path: Path) -> LocalIndex:
    """app 1.0 ──▶ lib>=1 (pure-Python wheels)."""
    index = local_index()
    src = tmp_path / "dists"
    index.add(make_wheel(src, "app", "1.0", requires_dist=["lib>=1"]))
    index.add(make_wheel(src, "lib", "1.0"))
    return index




def venvd(*args: str, env: dict[str, str] | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the `venvd` CLI in a subprocess (VENVD_* variables of this process removed)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VENVD_")}
    return subprocess.run([sys.executable, "-m", "venvd", *args], capture_output=True, text=True,
                          env={**clean, **(env or {})}, timeout=timeout, check=False)


class ServeProcess:
    """`venvd serve` on 127.0.0.1:<free port>; stderr (its log) goes to `log_path`."""

    def __init__(self, data_dir: Path, index: LocalIndex, *args: str, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("w")
        clean = {k: v for k, v in os.environ.items() if not k.startswith("VENVD_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "venvd", "serve", "--host", "127.0.0.1", "--port",
             str(self.port), "--data-dir", str(data_dir), "--index-url", index.url,
             "--unsafe-builds", *args],
            stdout=subprocess.DEVNULL, stderr=self._log, env=clean, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"venvd serve exited {self.proc.returncode}: {self.log()}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"venvd serve did not start: {self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, timeout=60, headers=headers)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture(name="serve")
def serve_fixture(tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    """`serve(data_dir, index, *extra_args)`: a started `venvd serve`, stopped at the end."""
    started: list[ServeProcess] = []

    def start(data_dir: Path, index: LocalIndex, *args: str) -> ServeProcess:
        process = ServeProcess(data_dir, index, *args,
                               log_path=tmp_path / f"serve-{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(name="token_store",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def token_store_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store with no tokens, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = sqlite_url_for(tmp_path / "store")
    else:
        url = request.getfixturevalue("postgres_url")
    store = Store.open(url)
    _delete_tokens(store)
    yield store
    _delete_tokens(store)
    store.close()


def _delete_tokens(store: Store) -> None:
    import sqlalchemy as sa

    with store._session(write=True) as s:
        s.execute(sa.text("DELETE FROM tokens"))
