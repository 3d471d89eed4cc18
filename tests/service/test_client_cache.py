"""`venvd create` against a server: fragments come by Range, into the client cache, and a client
that holds them downloads nothing more (interrupted runs resume there, changed entries are fetched
again, never linked)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.service.conftest import ApiServer
from tests.service.proxy import FaultProxy
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.service import Service

BIG = 700 * 1024  # incompressible: each big fragment is larger than the first range the client asks


def _noise(seed: int) -> bytes:
    return random.Random(seed).randbytes(BIG)


@pytest.fixture
def served(world: LocalIndex, make_service: Callable[..., Service],
           tmp_path: Path) -> Iterator[tuple[FaultProxy, Service]]:
    src = tmp_path / "big-src"
    for name, blob in (("big-a", _noise(1)), ("big-b", _noise(2)), ("a-small", _noise(3)[:BIG // 7])):
        world.add(make_wheel(src, name, "1.0", files={
            f"{name.replace('-', '_')}/__init__.py": "NAME = __name__\n",
            f"{name.replace('-', '_')}/blob.bin": blob}))
    service = make_service(world)
    server = ApiServer(service)
    proxy = FaultProxy(server.url).start()
    try:
        yield proxy, service
    finally:
        proxy.stop()
        server.stop()


def _create(dest: Path, server: str, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VENVD_CLIENT_CACHE_DIR": str(cache)}
    env.pop("VENVD_SERVER", None)
    return subprocess.run(
        [sys.executable, "-m", "venvd", "create", str(dest), "--server", server, *args],
        capture_output=True, text=True, env=env, timeout=300,
    )


def _ranges(proxy: FaultProxy, since: int) -> list[tuple[int, int]]:
    found = []
    for logged in proxy.requests_to("/artifact")[since:]:
        first, _, last = logged.headers["Range"].removeprefix("bytes=").partition("-")
        found.append((int(first), int(last)))
    return found


def _run_tool(dest: Path) -> str:
    return subprocess.run([str(dest / "bin" / "tool-hello")], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_a_warm_client_fetches_only_the_manifest_and_links_the_rest(
        served: tuple[FaultProxy, Service], tmp_path: Path) -> None:
    proxy, _service = served
    cache = tmp_path / "client-cache"
    first = _create(tmp_path / "one", proxy.url, cache, "big-a", "tool")
    assert first.returncode == 0, first.stderr
    seen = len(proxy.requests_to("/artifact"))

    again = _create(tmp_path / "two", proxy.url, cache, "big-a", "tool")
    assert again.returncode == 0, again.stderr
    assert [r[0] for r in _ranges(proxy, seen)] == [0]  # the manifest's range, nothing more
    assert _run_tool(tmp_path / "two") == "hello from tool"
    blob = next((tmp_path / "two").glob("lib/python*/site-packages/big_a/blob.bin"))
    assert blob.read_bytes() == _noise(1)
    assert blob.stat().st_nlink >= 2  # linked from the cache (this filesystem has no reflink)

    copied = _create(tmp_path / "three", proxy.url, cache, "big-a", "tool", "--link-mode", "copy")
    assert copied.returncode == 0, copied.stderr
    blob = next((tmp_path / "three").glob("lib/python*/site-packages/big_a/blob.bin"))
    assert blob.stat().st_nlink == 1 and blob.read_bytes() == _noise(1)
    # The script's interpreter line was rewritten in a file of its own, never in the cache.
    script = (tmp_path / "two" / "bin" / "tool-hello")
    assert script.stat().st_nlink == 1 and str(tmp_path / "two") in script.read_text()


def test_a_second_environment_fetches_only_the_fragments_it_lacks(
        served: tuple[FaultProxy, Service], tmp_path: Path) -> None:
    proxy, _service = served
    cache = tmp_path / "client-cache"
    assert _create(tmp_path / "one", proxy.url, cache, "big-a", "tool").returncode == 0
    seen = len(proxy.requests_to("/artifact"))
    second = _create(tmp_path / "two", proxy.url, cache, "big-a", "big-b", "tool")
    assert second.returncode == 0, second.stderr
    ranges = _ranges(proxy, seen)
    # The manifest's range, then big-b's fragment (after big-a's, which is not fetched again).
    fetched = sum(last - first + 1 for first, last in ranges[1:])
    assert len(ranges) == 2 and BIG <= fetched < BIG + 64 * 1024, ranges
    assert ranges[1][0] > BIG  # past big-a's fragment
    assert (next((tmp_path / "two").glob("lib/python*/site-packages/big_b/blob.bin")).read_bytes()
            == _noise(2))


def test_an_interrupted_download_keeps_the_fragments_it_unpacked(
        served: tuple[FaultProxy, Service], tmp_path: Path) -> None:
    proxy, _service = served
    cache = tmp_path / "client-cache"
    dest = tmp_path / "env"
    # The first range holds the manifest and all of a-small's fragment; the next request fails.
    # (A 503 rather than a connection cut mid-body: see the integrator's note on aborted
    # artifact responses holding the server's SQLite lock.)
    seen: list[str] = []

    def second_artifact_request(path: str) -> bool:  # called under the proxy's lock
        if path.endswith("/artifact"):
            seen.append(path)
        return len(seen) == 2

    proxy.fail(second_artifact_request, 503)
    first = _create(dest, proxy.url, cache, "a-small", "big-b", "tool")
    assert first.returncode == 3, first.stderr
    assert "Traceback" not in first.stderr
    assert not dest.exists() or not any(dest.iterdir())
    kept = [json.loads(p.read_text())["package"] for p in cache.glob("files-v2/*/*/entry.json")]
    assert kept == ["a-small 1.0"]

    before = len(proxy.requests_to("/artifact"))
    second = _create(dest, proxy.url, cache, "a-small", "big-b", "tool")
    assert second.returncode == 0, second.stderr
    ranges = _ranges(proxy, before)
    assert ranges[0][0] == 0 and len(ranges) == 2 and ranges[1][0] > 100 * 1024
    assert _run_tool(dest) == "hello from tool"


def test_a_changed_cache_entry_is_fetched_again_never_linked(
        served: tuple[FaultProxy, Service], tmp_path: Path) -> None:
    proxy, _service = served
    cache = tmp_path / "client-cache"
    assert _create(tmp_path / "one", proxy.url, cache, "big-a", "tool").returncode == 0
    # Editing the installed file in place (hard link mode) edits the cache entry too.
    blob = next((tmp_path / "one").glob("lib/python*/site-packages/big_a/blob.bin"))
    with blob.open("r+b") as f:
        f.write(b"edited")
    seen = len(proxy.requests_to("/artifact"))
    again = _create(tmp_path / "two", proxy.url, cache, "big-a", "tool")
    assert again.returncode == 0, again.stderr
    assert len(_ranges(proxy, seen)) == 2  # the manifest, then big-a's fragment again
    fresh = next((tmp_path / "two").glob("lib/python*/site-packages/big_a/blob.bin"))
    assert fresh.read_bytes() == _noise(1)


def test_missing_fragments_are_grouped_into_few_range_requests() -> None:
    from venvd.client._artifact import _MERGE_GAP, _runs

    ranges = [(100, 10), (110, 5), (115 + _MERGE_GAP, 1), (10**9, 7)]
    assert _runs(ranges, _MERGE_GAP) == [ranges[:3], ranges[3:]]
    assert _runs(ranges, 10**9) == [ranges]
    assert _runs([], 0) == []
