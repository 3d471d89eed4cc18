"""An artifact built behind one API node is downloaded through another: one PostgreSQL store, one S3
store (moto, server mode), node B a real `venvd serve` process with its own (empty) data dir."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fleet import _objects_support as support
from tests.service.conftest import ApiServer
from tests.support.index_server import LocalIndex
from venvd.client._http import HttpClient
from venvd.objects import artifact_key, recipe_key
from venvd.service import Service, Settings

# The suite's fixtures, collected by pytest from this module's globals.
moto_endpoint = support.moto_endpoint
objects_world = support.objects_world
s3_url = support.s3_url
serve_process = support.serve_process

pytestmark = pytest.mark.postgres


def _build_on_node_a(tmp_path: Path, index: LocalIndex, postgres_url: str, s3_url: str,
                     endpoint: str) -> tuple[Service, dict[str, Any]]:
    service = Service.open(Settings(data_dir=tmp_path / "node-a", index_url=index.url, http_retries=1,
                                    database_url=postgres_url, object_store=s3_url,
                                    s3_endpoint_url=endpoint))
    doc = service.environments.create_from_json(
        {"requirements": ["app"], "target": {"python": "3.11", "platform": "manylinux_2_28_x86_64"}})
    doc = service.environments.wait(doc["id"], timeout=120)
    assert doc["status"] == "ready", doc
    return service, doc


def test_artifact_built_by_one_node_streams_from_another_with_ranges(
        tmp_path: Path, objects_world: LocalIndex, postgres_url: str, s3_url: str,
        moto_endpoint: str, serve_process: Callable[..., support.ServeProcess]) -> None:
    service, doc = _build_on_node_a(tmp_path, objects_world, postgres_url, s3_url, moto_endpoint)
    try:
        record = service.store.get_environment(doc["id"])
        assert record is not None and record.artifact_path == recipe_key(doc["id"])
        # No concatenated copy anywhere: the recipe names the shared fragments it is made of.
        assert not service.environments.cache.artifact_path(doc["id"]).exists()
        shared = service.environments.artifacts.objects
        assert shared.stat(artifact_key(doc["id"])) is None
        assert shared.stat(recipe_key(doc["id"])) is not None
        node_b = serve_process(tmp_path / "node-b", objects_world, database_url=postgres_url,
                               object_store=s3_url, s3_endpoint_url=moto_endpoint)
        with httpx.Client(base_url=node_b.url, timeout=60) as http:
            whole = http.get(f"/v1/environments/{doc['id']}/artifact")
            assert whole.status_code == 200
            assert hashlib.sha256(whole.content).hexdigest() == doc["sha256"]
            assert len(whole.content) == doc["size"] == int(whole.headers["X-Venvd-Size"])
            part = http.get(f"/v1/environments/{doc['id']}/artifact", headers={"Range": "bytes=100-199"})
            assert part.status_code == 206 and part.content == whole.content[100:200]
            assert part.headers["Content-Range"] == f"bytes 100-199/{doc['size']}"
            past = http.get(f"/v1/environments/{doc['id']}/artifact",
                            headers={"Range": f"bytes={doc['size']}-"})
            assert past.status_code == 416
            # The parts tile the archive; a Range of one part is that fragment's bytes as stored,
            # and a Range across part boundaries is the concatenation's.
            listing = http.get(f"/v1/environments/{doc['id']}/manifest").json()
            parts = listing["parts"]
            assert listing["size"] == doc["size"] and listing["sha256"] == doc["sha256"]
            assert [p["kind"] for p in parts] == ["manifest", "fragment", "fragment", "end"]
            assert [p["offset"] for p in parts] == [
                sum(q["size"] for q in parts[:i]) for i in range(len(parts))]
            for part in parts[1:-1]:
                first, last = part["offset"], part["offset"] + part["size"] - 1
                one = http.get(f"/v1/environments/{doc['id']}/artifact",
                               headers={"Range": f"bytes={first}-{last}"})
                assert one.status_code == 206 and one.content == whole.content[first:last + 1]
                assert b"".join(shared.open_range(part["key"])) == one.content
            across = parts[2]["offset"] - 10
            span = http.get(f"/v1/environments/{doc['id']}/artifact",
                            headers={"Range": f"bytes={across}-{across + 19}"})
            assert span.content == whole.content[across:across + 20]
            tail = http.get(f"/v1/environments/{doc['id']}/artifact", headers={"Range": "bytes=-7"})
            assert tail.status_code == 206 and tail.content == whole.content[-7:]
        # The client resumes a partial download with a Range request and verifies the whole.
        dest = tmp_path / "env.tar.zst"
        dest.with_name(dest.name + ".part").write_bytes(whole.content[:1000])
        client = HttpClient(node_b.url)
        try:
            info = client.download(doc["id"], dest)
        finally:
            client.close()
        assert info == {"sha256": doc["sha256"], "size": doc["size"]}
        assert dest.read_bytes() == whole.content
        assert not (tmp_path / "node-b" / "cache" / "environments-v1").exists()
    finally:
        service.close()


def test_presigned_redirect_is_followed_and_verified(
        tmp_path: Path, objects_world: LocalIndex, postgres_url: str, s3_url: str,
        moto_endpoint: str, serve_process: Callable[..., support.ServeProcess]) -> None:
    service, doc = _build_on_node_a(tmp_path, objects_world, postgres_url, s3_url, moto_endpoint)
    try:
        node_b = serve_process(tmp_path / "node-b", objects_world, database_url=postgres_url,
                               object_store=s3_url, s3_endpoint_url=moto_endpoint,
                               presign_downloads="true")
        with httpx.Client(base_url=node_b.url, timeout=60) as http:
            answer = http.get(f"/v1/environments/{doc['id']}/artifact")
            assert answer.status_code == 307
            assert answer.headers["Location"].startswith(moto_endpoint)
            assert answer.headers["X-Venvd-Sha256"] == doc["sha256"]
        # `venvd export` through node B follows the redirect and checks size and sha256.
        output = tmp_path / "exported.tar.zst"
        result = subprocess.run(
            [sys.executable, "-m", "venvd", "export", doc["id"], "-o", str(output),
             "--server", node_b.url],
            capture_output=True, text=True, timeout=120, env={**_env(), **support.S3_ENV})
        assert result.returncode == 0, result.stderr
        assert hashlib.sha256(output.read_bytes()).hexdigest() == doc["sha256"]
        # A tampered object in the store is caught by the client, and nothing is left behind.
        from venvd.objects._s3 import S3ObjectStore

        bad = tmp_path / "bad"
        bad.write_bytes(output.read_bytes()[:-1] + b"\0")
        S3ObjectStore(s3_url, endpoint_url=moto_endpoint).put_file(artifact_key(doc["id"]), bad)
        client = HttpClient(node_b.url)
        dest = tmp_path / "tampered.tar.zst"
        try:
            from venvd.errors import HashMismatch

            with pytest.raises(HashMismatch):
                client.download(doc["id"], dest)
        finally:
            client.close()
        assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()
    finally:
        service.close()


def test_node_a_serves_what_it_built_in_process_too(
        tmp_path: Path, objects_world: LocalIndex, postgres_url: str, s3_url: str,
        moto_endpoint: str) -> None:
    """The in-process client (artifact_path) fetches the shared object into its local cache."""
    service, doc = _build_on_node_a(tmp_path, objects_world, postgres_url, s3_url, moto_endpoint)
    server = ApiServer(service)
    try:
        path = service.environments.artifact_path(doc["id"])
        assert hashlib.sha256(path.read_bytes()).hexdigest() == doc["sha256"]
        with server.client() as http:
            assert http.get(f"/v1/environments/{doc['id']}/artifact").status_code == 200
    finally:
        server.stop()
        service.close()


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("VENVD_")}


def test_an_object_store_outage_is_a_clean_502(tmp_path: Path, objects_world: LocalIndex,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The S3-API server goes away after the build: downloads and creates are answered 502 with
    a JSON error naming the object store (no 500, no hang), and the server keeps answering."""
    import os

    for name, value in support.S3_ENV.items():
        monkeypatch.setenv(name, value)
    port = support.free_port()
    moto = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1",
                             "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ})
    endpoint = f"http://127.0.0.1:{port}"
    try:
        support.wait_http(endpoint, moto)
        from venvd.objects._s3 import S3ObjectStore

        S3ObjectStore("s3://outage", endpoint_url=endpoint).ensure_bucket()
        service = Service.open(Settings(data_dir=tmp_path / "node", index_url=objects_world.url,
                                        http_retries=1, object_store="s3://outage/v",
                                        s3_endpoint_url=endpoint))
        server = ApiServer(service)
        try:
            body = {"requirements": ["app"],
                    "target": {"python": "3.11", "platform": "manylinux_2_28_x86_64"}}
            doc = service.environments.wait(
                service.environments.create_from_json(body)["id"], timeout=120)
            assert doc["status"] == "ready"
            support.stop(moto)
            with server.client() as http:
                answer = http.get(f"/v1/environments/{doc['id']}/artifact", timeout=60)
                assert answer.status_code == 502, answer.text
                assert answer.json()["error"]["code"] == "upstream_error"
                assert "object store" in answer.json()["error"]["message"]
                again = http.post("/v1/environments", json=body, timeout=60)
                assert again.status_code == 502, again.text
                assert http.get("/v1/health").status_code == 200
        finally:
            server.stop()
            service.close()
    finally:
        support.stop(moto)
