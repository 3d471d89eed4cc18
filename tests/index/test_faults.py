"""Upstream faults: retries with backoff, then 502/504 naming the index; verified downloads."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.dists import make_wheel, sha256_file
from tests.support.index_server import LocalIndex
from venvd.errors import HashMismatch, UpstreamError, UpstreamTimeout
from venvd.index import IndexClient, ProjectPage

Client = Callable[..., IndexClient]
Index = Callable[..., LocalIndex]


@pytest.fixture
def foo_index(local_index: Index, tmp_path: Path) -> LocalIndex:
    index = local_index(pep658=False)
    index.add(make_wheel(tmp_path, "foo", "1.0", requires_dist=["bar"]))
    return index


def test_transient_503s_are_retried(foo_index: LocalIndex, index_client: Client) -> None:
    foo_index.fail("/simple/foo/", 503, times=2)
    page = index_client(foo_index.url, retries=3).project_page("foo")
    assert isinstance(page, ProjectPage) and len(page.files) == 1
    assert len(foo_index.requests_to("/simple/foo/")) == 3


def test_persistent_503_is_an_upstream_error_naming_index_and_project(
        foo_index: LocalIndex, index_client: Client) -> None:
    foo_index.fail("/simple/foo/", 503, times=100)
    with pytest.raises(UpstreamError) as caught:
        index_client(foo_index.url, retries=2).project_page("foo")
    error = caught.value
    assert type(error) is UpstreamError and error.http_status == 502
    assert foo_index.url in error.message and "'foo'" in error.message and "503" in error.message
    assert error.project == "foo"
    assert len(foo_index.requests_to("/simple/foo/")) == 3


def test_dropped_connections_are_retried(foo_index: LocalIndex, index_client: Client) -> None:
    foo_index.fail("/simple/foo/", 0, times=2)
    page = index_client(foo_index.url).project_page("foo")
    assert isinstance(page, ProjectPage) and len(page.files) == 1


def test_connections_dropped_forever_fail(foo_index: LocalIndex, index_client: Client) -> None:
    foo_index.fail("/simple/foo/", 0, times=100)
    with pytest.raises(UpstreamError) as caught:
        index_client(foo_index.url, retries=1).project_page("foo")
    assert foo_index.url in caught.value.message


def test_faults_on_file_requests_are_retried(foo_index: LocalIndex, index_client: Client) -> None:
    client = index_client(foo_index.url)
    page = client.project_page("foo")
    assert isinstance(page, ProjectPage)
    foo_index.fail("/files/", 502, times=1)
    foo_index.fail("/files/", 0, times=1)
    assert client.fetch_metadata(page.files[0]).requires_dist == ("bar",)


@pytest.fixture
def stalled_url() -> Iterator[str]:
    """A server that accepts connections (the kernel's backlog does) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/simple/"


def test_stalled_server_is_an_upstream_timeout(stalled_url: str, index_client: Client) -> None:
    client = index_client(stalled_url, timeout=0.3, retries=1)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout) as caught:
        client.project_page("foo")
    assert time.monotonic() - started < 5
    assert caught.value.http_status == 504
    assert stalled_url in caught.value.message and "'foo'" in caught.value.message


def test_429_waits_for_retry_after(index_client: Client) -> None:
    empty = {"meta": {"api-version": "1.0"}, "name": "foo", "files": []}
    answers = [httpx.Response(429, headers={"Retry-After": "1"}),
               httpx.Response(200, json=empty,
                              headers={"Content-Type": "application/vnd.pypi.simple.v1+json"})]
    seen: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(time.monotonic())
        return answers.pop(0)

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        page = index_client("https://index.example/simple/", http=http).project_page("foo")
    assert isinstance(page, ProjectPage) and page.files == ()
    assert len(seen) == 2 and seen[1] - seen[0] >= 0.9


def test_download_verifies_and_renames(foo_index: LocalIndex, index_client: Client,
                                       tmp_path: Path) -> None:
    client = index_client(foo_index.url)
    (entry,) = foo_index.files.values()
    dest = tmp_path / "out" / entry.path.name
    foo_index.fail("/files/", 503, times=1)
    client.download(foo_index.file_url(entry.path.name), entry.sha256, dest)
    assert dest.read_bytes() == entry.path.read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]  # no .part left


def test_download_hash_mismatch_leaves_nothing(foo_index: LocalIndex, index_client: Client,
                                               tmp_path: Path) -> None:
    client = index_client(foo_index.url)
    (entry,) = foo_index.files.values()
    dest = tmp_path / "out" / entry.path.name
    url = foo_index.file_url(entry.path.name)
    with pytest.raises(HashMismatch) as caught:
        client.download(url, "0" * 64, dest)
    assert caught.value.url == url and entry.sha256 in caught.value.message
    assert list(dest.parent.iterdir()) == []


def test_download_from_a_file_url(index_client: Client, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "src", "foo", "1.0")
    dest = tmp_path / "out" / wheel.name
    client = index_client("https://index.invalid/simple/")
    client.download(wheel.as_uri(), sha256_file(wheel), dest)
    assert dest.read_bytes() == wheel.read_bytes()
    with pytest.raises(HashMismatch):
        client.download(wheel.as_uri(), "1" * 64, tmp_path / "other" / wheel.name)
    assert not (tmp_path / "other" / wheel.name).exists()
