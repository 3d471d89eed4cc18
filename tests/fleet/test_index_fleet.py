"""The package index on a fleet: two API nodes on one PostgreSQL store and one S3 bucket (moto,
server mode), each with its own data dir. Node A is an in-process Service behind a real server,
node B a real `venvd serve` process. What one node fetched or built, the other serves from the
object store without contacting upstream (the local index counts every request)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from tests.fleet import _objects_support as support
from tests.service.conftest import ApiServer
from tests.support.dists import make_sdist, make_wheel
from tests.support.environments import wait_finished
from tests.support.index_server import LocalIndex
from venvd.service import Service, Settings

# The suite's fixtures, collected by pytest from this module's globals.
moto_endpoint = support.moto_endpoint
s3_url = support.s3_url
serve_process = support.serve_process

pytestmark = pytest.mark.postgres

LINUX_311 = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


class World:
    """Upstream: `fleetlib` 1.0 (a wheel), `fleetbuilt` 1.0 (an sdist only) and `fleetdirect` 1.0,
    a wheel served unlisted (a direct reference's file). Names of their own: the session's
    PostgreSQL schema is shared with the other suites' tests."""

    def __init__(self, index: LocalIndex, src: Path) -> None:
        self.index = index
        self.lib = make_wheel(src, "fleetlib", "1.0", tag="py3-none-any")
        index.add(self.lib)
        index.add(make_sdist(src, "fleetbuilt", "1.0"))
        self.direct = make_wheel(src, "fleetdirect", "1.0", tag="py3-none-any")
        self.direct_url = index.serve_unlisted(self.direct)
        self.prefix = f"{index.base_url}/direct/"

    def fetches(self, filename: str) -> int:
        """Requests upstream for the file `filename` (listed or direct)."""
        return len(self.index.requests_to("/" + filename))


class Nodes:
    """Node A (in-process, `a`) and node B (a `venvd serve` process, `b`): httpx clients."""

    def __init__(self, a_service: Service, a: httpx.Client, b: httpx.Client) -> None:
        self.a_service = a_service
        self.a = a
        self.b = b


@pytest.fixture
def world(local_index: Callable[..., LocalIndex], tmp_path: Path) -> World:
    return World(local_index(), tmp_path / "src")


@pytest.fixture
def nodes(tmp_path: Path, world: World, postgres_url: str, s3_url: str, moto_endpoint: str,
          serve_process: Callable[..., support.ServeProcess]) -> Iterator[Nodes]:
    service = Service.open(Settings(
        data_dir=tmp_path / "node-a", index_url=world.index.url, http_retries=1,
        database_url=postgres_url, object_store=s3_url, s3_endpoint_url=moto_endpoint,
        direct_url_prefixes=[world.prefix]))
    server = ApiServer(service)
    node_b = serve_process(tmp_path / "node-b", world.index, database_url=postgres_url,
                           object_store=s3_url, s3_endpoint_url=moto_endpoint,
                           http_retries="1", direct_url_prefixes=json.dumps([world.prefix]))
    with server.client() as a, httpx.Client(base_url=node_b.url, timeout=120) as b:
        yield Nodes(service, a, b)
    server.stop()
    service.close()


def _files(client: httpx.Client, project: str) -> dict[str, dict[str, Any]]:
    answer = client.get(f"/simple/{project}/", headers=JSON)
    assert answer.status_code == 200, answer.text
    return {f["filename"]: f for f in answer.json()["files"]}


def _get(client: httpx.Client, project: str, url: str) -> bytes:
    answer = client.get(urljoin(f"/simple/{project}/", url))
    assert answer.status_code == 200, answer.text
    return answer.content


def test_a_file_fetched_through_one_node_is_served_by_another_from_the_store(
        world: World, nodes: Nodes) -> None:
    name = world.lib.name
    listed = _files(nodes.a, "fleetlib")[name]
    assert _get(nodes.a, "fleetlib", listed["url"]) == world.lib.read_bytes()
    assert world.fetches(name) == 1
    on_b = _files(nodes.b, "fleetlib")[name]
    assert on_b["hashes"] == listed["hashes"]
    data = _get(nodes.b, "fleetlib", on_b["url"])
    assert hashlib.sha256(data).hexdigest() == on_b["hashes"]["sha256"]
    assert data == world.lib.read_bytes()
    assert world.fetches(name) == 1  # node B read A's copy from the object store


def test_a_wheel_built_behind_one_node_is_listed_and_served_by_another(
        world: World, nodes: Nodes, tmp_path: Path) -> None:
    assert set(_files(nodes.b, "fleetbuilt")) == {"fleetbuilt-1.0.tar.gz"}  # nothing built yet
    answer = nodes.a.post("/v1/environments",
                          json={"requirements": ["fleetbuilt"], "target": LINUX_311})
    assert answer.status_code in (200, 202), answer.text
    assert wait_finished(nodes.a, answer.json()["id"])["status"] == "ready"
    sdist_fetches = world.fetches("fleetbuilt-1.0.tar.gz")
    files = _files(nodes.b, "fleetbuilt")
    wheels = [name for name in files if name.endswith(".whl")]
    assert len(wheels) == 1, files
    wheel = files[wheels[0]]
    assert not (tmp_path / "node-b" / "cache" / "built-v1").exists()  # B built nothing
    data = _get(nodes.b, "fleetbuilt", wheel["url"])
    assert hashlib.sha256(data).hexdigest() == wheel["hashes"]["sha256"]
    assert len(data) == wheel["size"]
    built = list((tmp_path / "node-a" / "cache" / "built-v1").rglob("*.whl"))
    assert [p.read_bytes() for p in built] == [data]  # the very wheel node A built
    metadata = _get(nodes.b, "fleetbuilt", wheel["url"] + ".metadata")
    assert hashlib.sha256(metadata).hexdigest() == wheel["core-metadata"]["sha256"]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert metadata == zf.read("fleetbuilt-1.0.dist-info/METADATA")
    assert world.fetches("fleetbuilt-1.0.tar.gz") == sdist_fetches  # node B never needed it


def test_a_direct_reference_downloaded_by_one_node_is_not_downloaded_by_another(
        world: World, nodes: Nodes) -> None:
    sha = hashlib.sha256(world.direct.read_bytes()).hexdigest()
    ref = f"fleetdirect @ {world.direct_url}#sha256={sha}"
    resolved = nodes.a.post("/v1/resolve", json={"requirements": [ref], "target": LINUX_311})
    assert resolved.status_code == 200, resolved.text
    assert world.fetches(world.direct.name) == 1  # node A read its metadata from the file
    answer = nodes.b.post("/v1/environments", json={"requirements": [ref], "target": LINUX_311})
    assert answer.status_code in (200, 202), answer.text
    doc = wait_finished(nodes.b, answer.json()["id"])
    assert doc["status"] == "ready", doc
    assert world.fetches(world.direct.name) == 1  # node B's build read A's copy from the store


def test_a_service_opens_the_object_store_only_when_its_cache_needs_it(tmp_path: Path) -> None:
    """Every Service gets the one shared cache, but opening one (a `venvd resolve`) neither opens
    the store nor imports boto3: that waits for the first miss or write."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from venvd.service import Service, Settings\n"
        f"s = Service.open(Settings(data_dir=Path({str(tmp_path)!r}), object_store='s3://b/x',\n"
        "                           index_url='http://127.0.0.1:9/simple/'))\n"
        "assert s.cache.shared is not None and s.cache is s.resolutions._downloads\n"
        "assert 'boto3' not in sys.modules, 'boto3 imported'\n"
        "s.close()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
