"""Several indexes (first-index strategy) and find-links, with pip's meaning."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.dists import make_wheel, sha256_file
from tests.support.index_server import LocalIndex
from venvd.errors import UpstreamError
from venvd.index import IndexClient, NotModified, ProjectPage

Client = Callable[..., IndexClient]
Index = Callable[..., LocalIndex]


def _page(client: IndexClient, name: str, etag: str | None = None) -> ProjectPage:
    page = client.project_page(name, etag=etag)
    assert isinstance(page, ProjectPage)
    return page


def _versions(page: ProjectPage) -> list[str]:
    return sorted(str(f.version) for f in page.files)


def test_first_index_that_has_the_project_wins(local_index: Index, index_client: Client,
                                               tmp_path: Path) -> None:
    private, public = local_index(), local_index()
    private.add(make_wheel(tmp_path / "private", "foo", "1.0"))
    public.add(make_wheel(tmp_path / "public", "foo", "99.0"))  # a shadowing public upload
    page = _page(index_client(private.url, public.url), "foo")
    assert _versions(page) == ["1.0"] and page.index_url == private.url
    assert all(f.index_url == private.url for f in page.files)
    assert public.requests == []


def test_project_only_on_a_later_index_is_taken_from_it(local_index: Index, index_client: Client,
                                                        tmp_path: Path) -> None:
    private, public = local_index(), local_index()
    private.add(make_wheel(tmp_path, "other", "1.0"))
    public.add(make_wheel(tmp_path, "foo", "2.0"))
    page = _page(index_client(private.url, public.url), "foo")
    assert _versions(page) == ["2.0"] and page.index_url == public.url
    assert [r.path for r in private.requests] == ["/simple/foo/"]


def test_a_refusal_is_not_a_miss(local_index: Index, index_client: Client, tmp_path: Path) -> None:
    """A 403 from the private index must not let the public one answer for the project."""
    private, public = local_index(), local_index()
    private.add(make_wheel(tmp_path, "foo", "1.0"))
    public.add(make_wheel(tmp_path, "foo", "99.0"))
    private.fail("/simple/foo/", 403)
    with pytest.raises(UpstreamError) as caught:
        index_client(private.url, public.url).project_page("foo")
    assert private.url in caught.value.message and "foo" in caught.value.message
    assert public.requests == []


def test_find_links_directory_adds_to_the_index(local_index: Index, index_client: Client,
                                                tmp_path: Path) -> None:
    index = local_index()
    index.add(make_wheel(tmp_path / "up", "foo", "1.0"))
    wheels = tmp_path / "wheels"
    local = make_wheel(wheels, "foo", "2.0", requires_dist=["bar"])
    make_wheel(wheels, "bar", "1.0")
    (wheels / "README.txt").write_text("not a distribution")
    client = index_client(index.url, find_links=(str(wheels),))
    page = _page(client, "foo")
    assert _versions(page) == ["1.0", "2.0"] and page.index_url == index.url
    found = next(f for f in page.files if str(f.version) == "2.0")
    assert found.url == local.resolve().as_uri()
    assert found.sha256 == sha256_file(local) and found.size == local.stat().st_size
    assert client.fetch_metadata(found).requires_dist == ("bar",)
    # On no index, but in find-links: still found (pip semantics).
    only_local = _page(client, "bar")
    assert _versions(only_local) == ["1.0"] and only_local.index_url == wheels.resolve().as_uri()
    assert client.project_page("baz") is None


def test_find_links_page_over_http(local_index: Index, index_client: Client,
                                   tmp_path: Path) -> None:
    index, links = local_index(), local_index(json=False)
    index.add(make_wheel(tmp_path / "a", "foo", "1.0"))
    links.add(make_wheel(tmp_path / "b", "foo", "3.0"))
    page_of_links = links.url + "foo/"
    page = _page(index_client(index.url, find_links=(page_of_links,)), "foo")
    assert _versions(page) == ["1.0", "3.0"]
    extra = next(f for f in page.files if str(f.version) == "3.0")
    assert extra.url == links.file_url(extra.filename) and extra.sha256
    assert extra.index_url == page_of_links


def test_revalidation_notices_find_links_changes(local_index: Index, index_client: Client,
                                                 tmp_path: Path) -> None:
    index = local_index()
    index.add(make_wheel(tmp_path / "up", "foo", "1.0"))
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "foo", "2.0")
    client = index_client(index.url, find_links=(str(wheels),))
    page = _page(client, "foo")
    assert page.etag is not None
    assert isinstance(client.project_page("foo", etag=page.etag), NotModified)
    make_wheel(wheels, "foo", "3.0")
    assert _versions(_page(client, "foo", etag=page.etag)) == ["1.0", "2.0", "3.0"]
