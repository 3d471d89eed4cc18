"""`venvd create` interrupted in the middle of its download resumes it on the next run (Range)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.service.conftest import ApiServer
from tests.service.proxy import FaultProxy
from tests.support.index_server import LocalIndex
from venvd.service import Service

CUT_AFTER = 1000


def _create(dest: Path, server: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VENVD_DATA_DIR": str(tmp_path / "client-data")}
    env.pop("VENVD_SERVER", None)
    return subprocess.run(
        [sys.executable, "-m", "venvd", "create", str(dest), "tool", "--server", server],
        capture_output=True, text=True, env=env, timeout=300,
    )


def test_an_interrupted_download_resumes_with_a_range_request(
    world: LocalIndex, make_service: Callable[..., Service], tmp_path: Path
) -> None:
    service = make_service(world)
    server = ApiServer(service)
    proxy = FaultProxy(server.url).start()
    proxy.cut(lambda path: path.endswith("/artifact"), after=CUT_AFTER)
    dest = tmp_path / "env"
    try:
        first = _create(dest, proxy.url, tmp_path)
        assert first.returncode == 3, first.stderr
        assert "resume" in first.stderr and "Traceback" not in first.stderr
        parts = list(tmp_path.glob(".env.venvd-*.tar.zst.part"))
        assert len(parts) == 1 and parts[0].stat().st_size == CUT_AFTER
        partial = parts[0].read_bytes()
        assert not dest.exists() or not any(dest.iterdir())

        second = _create(dest, proxy.url, tmp_path)
        assert second.returncode == 0, second.stderr
        downloads = proxy.requests_to("/artifact")
        assert len(downloads) == 2
        assert "Range" not in downloads[0].headers
        assert downloads[1].headers.get("Range") == f"bytes={CUT_AFTER}-"
        # What was kept is the artifact's beginning; the whole passed the client's sha256 check
        # (a mismatch fails the command); nothing is left behind.
        env_id = downloads[0].path.split("/")[3]
        doc = service.environments.status(env_id)
        artifact = service.environments.artifact_path(env_id).read_bytes()
        assert doc["sha256"] == hashlib.sha256(artifact).hexdigest()
        assert doc["sha256"][:16] in parts[0].name
        assert partial == artifact[:CUT_AFTER] and len(artifact) > CUT_AFTER
        assert not list(tmp_path.glob(".env.venvd-*"))
        hello = subprocess.run([str(dest / "bin" / "tool-hello")], capture_output=True, text=True)
        assert hello.stdout.strip() == "hello from tool"
    finally:
        proxy.stop()
        server.stop()
