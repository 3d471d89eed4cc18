"""Fixtures for the object-store suites: a real S3-API server (moto in server mode on loopback), a
small world on the local index, and `venvd serve` processes.

Imported by the test modules that use them (tests/fleet/conftest.py is shared with other suites):

    from tests.fleet._objects_support import moto_endpoint, s3_url, objects_world  # noqa: F401
"""

from __future__ import annotations

import os
import secrets
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

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}




def wait_http(url: str, process: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    """Until `url` answers (any status); RuntimeError when the process dies or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """`moto_server` on a loopback port, for the whole session; its URL."""
    binary = Path(sys.executable).parent / "moto_server"
    if not binary.exists():
        pytest.skip("moto[server] is not installed (the test extra)")
    port = free_port()
    process = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, **S3_ENV})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url, process)
        yield url
    finally:
        stop(process)


@pytest.fixture
def s3_url(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the moto server; ``s3://bucket/venvd`` (credentials in the environment)."""
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    bucket = f"venvd-{secrets.token_hex(6)}"
    from venvd.objects._s3 import S3ObjectStore

    S3ObjectStore(f"s3://{bucket}", endpoint_url=moto_endpoint).ensure_bucket()
    return f"s3://{bucket}/venvd"


@pytest.fixture
def objects_world(local_index: Callable[..., LocalIndex], tmp_path: Path) -> LocalIndex:
    """app 1.0 ──▶ lib>=1, and `big` 1.0 whose wheel carries 1.5 MB of random bytes."""
    index = local_index()
    src = tmp_path / "src"
    index.add(make_wheel(src, "app", "1.0", requires_dist=["lib>=1"],
                         files={"app/__init__.py": "X = 1\n", "app/blob.bin": os.urandom(200_000)}))
    index.add(make_wheel(src, "lib", "1.0"))
    index.add(make_wheel(src, "big", "1.0", files={"big/__init__.py": "",
                                                   "big/blob.bin": os.urandom(1_500_000)}))
    return index


class ServeProcess:
    """`venvd serve` in its own process on a loopback port, with the given VENVD_* settings."""

    def __init__(self, data_dir: Path, index: LocalIndex, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, **S3_ENV, "VENVD_DATA_DIR": str(data_dir), "VENVD_INDEX_URL": index.url,
               **{f"VENVD_{k.upper()}": v for k, v in settings.items()}}
        self.log = data_dir.parent / f"serve-{self.port}.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "venvd", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port), "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_http(f"{self.url}/v1/health", self.process)
        except RuntimeError:
            stop(self.process)
            raise RuntimeError(f"venvd serve did not start: {self.log.read_text()[-2000:]}") from None

    def stop(self) -> None:
        stop(self.process)


@pytest.fixture
def serve_process() -> Iterator[Callable[..., ServeProcess]]:
    started: list[ServeProcess] = []

    def start(data_dir: Path, index: LocalIndex, **settings: str) -> ServeProcess:
        node = ServeProcess(data_dir, index, **settings)
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()
