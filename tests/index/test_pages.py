"""Project pages: PEP 691 JSON and PEP 503 HTML give the same files; PEP 592/658/700 fields."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.dists import make_sdist, make_wheel, sha256_file
from tests.support.index_server import LocalIndex
from venvd.dist import parse_dist_filename
from venvd.index import IndexClient, IndexConfig, NotModified, ProjectPage
from venvd.index._pages import _FileNames

Client = Callable[..., IndexClient]


def _fill(index: LocalIndex, tmp_path: Path) -> None:
    index.add(make_wheel(tmp_path / "d", "Foo.Bar", "1.0"), upload_time="2024-01-02T03:04:05Z",
              requires_python=">=3.8, <4")
    index.add(make_wheel(tmp_path / "d", "Foo.Bar", "1.1", tag="cp311-cp311-manylinux_2_28_x86_64"),
              yanked="broken build", upload_time="2024-02-01T00:00:00Z")
    index.add(make_wheel(tmp_path / "d", "Foo.Bar", "1.2"), yanked=True)
    index.add(make_sdist(tmp_path / "d", "Foo.Bar", "1.2"))


def _page(client: IndexClient, name: str) -> ProjectPage:
    page = client.project_page(name)
    assert isinstance(page, ProjectPage)
    return page


def test_json_and_html_pages_give_the_same_files(local_index: Callable[..., LocalIndex],
                                                 index_client: Client, tmp_path: Path) -> None:
    index = local_index()
    _fill(index, tmp_path)
    client = index_client(index.url)
    from_json = _page(client, "foo-bar")
    index.json = False
    from_html = _page(client, "FOO_bar")
    assert index.requests[0].headers["Accept"].startswith("application/vnd.pypi.simple.v1+json")
    assert index.requests[0].path == "/simple/foo-bar/"
    assert from_json.name == from_html.name == "foo-bar"
    assert len(from_json.files) == 4

    # HTML cannot carry size and upload-time (PEP 700 is JSON only); everything else must agree.
    def comparable(page: ProjectPage) -> list[object]:
        return [dataclasses.replace(f, size=None, upload_time=None) for f in page.files]

    assert comparable(from_json) == comparable(from_html)
    files = {f.filename: f for f in from_json.files}
    wheel = files["Foo.Bar-1.0-py3-none-any.whl"]
    # Relative hrefs ("../../files/x") resolved against the page URL; hash moved out of the URL.
    assert wheel.url == index.file_url("Foo.Bar-1.0-py3-none-any.whl")
    assert wheel.sha256 == sha256_file(tmp_path / "d" / "Foo.Bar-1.0-py3-none-any.whl")
    assert wheel.requires_python == ">=3.8, <4"
    assert wheel.upload_time == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert wheel.size == (tmp_path / "d" / wheel.filename).stat().st_size
    assert wheel.yanked is None
    assert wheel.metadata_sha256 is not None and len(wheel.metadata_sha256) == 64
    assert wheel.index_url == index.url
    assert files["Foo.Bar-1.1-cp311-cp311-manylinux_2_28_x86_64.whl"].yanked == "broken build"
    assert files["Foo.Bar-1.2-py3-none-any.whl"].yanked == ""
    sdist = files["Foo.Bar-1.2.tar.gz"]
    assert sdist.kind == "sdist" and sdist.metadata_sha256 is None and not sdist.is_yanked
    for page in (from_json, from_html):
        assert {f.filename: f.metadata_sha256 for f in page.files} == \
            {n: f.metadata_sha256 for n, f in files.items()}


def test_page_without_pep658_has_no_metadata_hashes(local_index: Callable[..., LocalIndex],
                                                    index_client: Client, tmp_path: Path) -> None:
    index = local_index(pep658=False)
    index.add(make_wheel(tmp_path, "foo", "1.0"))
    page = _page(index_client(index.url), "foo")
    assert [f.metadata_sha256 for f in page.files] == [None]


def test_missing_project_is_none_and_no_root_listing(local_index: Callable[..., LocalIndex],
                                                     index_client: Client, tmp_path: Path) -> None:
    index = local_index()
    index.add(make_wheel(tmp_path, "foo", "1.0"))
    client = index_client(index.url)
    assert client.project_page("nope") is None
    assert client.project_page("../etc") is None  # not a project name: nothing is asked
    assert [r.path for r in index.requests] == ["/simple/nope/"]


def test_etag_revalidation_gives_not_modified(local_index: Callable[..., LocalIndex],
                                              index_client: Client, tmp_path: Path) -> None:
    index = local_index()
    index.add(make_wheel(tmp_path, "foo", "1.0"))
    client = index_client(index.url)
    page = _page(client, "foo")
    assert page.etag and page.max_age == 600
    again = client.project_page("foo", etag=page.etag)
    assert isinstance(again, NotModified) and again.max_age == 600
    assert index.requests[-1].headers["If-None-Match"] == page.etag
    index.add(make_wheel(tmp_path, "foo", "2.0"))
    changed = client.project_page("foo", etag=page.etag)
    assert isinstance(changed, ProjectPage)
    assert sorted(str(f.version) for f in changed.files) == ["1.0", "2.0"]
    assert changed.etag != page.etag


def test_file_index_with_hand_written_page(index_client: Client, tmp_path: Path) -> None:
    """A `pip download`-style mirror: <root>/<project>/index.html, links relative to the page."""
    files = tmp_path / "mirror" / "files"
    wheel = make_wheel(files, "foo", "1.0", requires_dist=["bar"])
    digest = sha256_file(wheel)
    project = tmp_path / "mirror" / "simple" / "foo"
    project.mkdir(parents=True)
    (project / "index.html").write_text(
        "<html><body>"
        f'<a href="../../files/{wheel.name}#sha256={digest}" data-requires-python="&gt;=3.7">x</a>'
        '<a href="../../files/foo-0.1-py2.7.egg">egg</a>'
        '<a href="../../files/not a dist.txt">garbage</a>'
        '<a href="../../files/other-1.0-py3-none-any.whl">another project</a>'
        "</body></html>")
    client = index_client((tmp_path / "mirror" / "simple").as_uri())
    page = _page(client, "foo")
    assert [f.filename for f in page.files] == [wheel.name]
    (dist,) = page.files
    assert dist.url == wheel.resolve().as_uri()
    assert dist.sha256 == digest and dist.requires_python == ">=3.7"
    assert client.fetch_metadata(dist).requires_dist == ("bar",)
    assert client.project_page("absent") is None


def test_index_config_is_canonical(tmp_path: Path) -> None:
    config = IndexConfig(index_urls=("https://example.org/simple", str(tmp_path)),
                         find_links=(str(tmp_path / "wheels"),))
    assert config.index_urls == ("https://example.org/simple/", tmp_path.as_uri() + "/")
    assert config.find_links == ((tmp_path / "wheels").as_uri(),)
    assert IndexConfig.from_json(config.to_json()) == config
    assert IndexConfig().to_json() == {"index_urls": ["https://pypi.org/simple/"], "find_links": []}


@pytest.mark.parametrize("filename", [
    "foo-1.0-py3-none-any.whl",
    "foo-1.0-1-py3-none-any.whl",  # build tag
    "foo-1.0-1b-py3-none-any.whl",
    "foo-1.0-x-py3-none-any.whl",  # invalid build tag
    "foo-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "foo-1.0-py2.py3-none-any.whl",
    "foo-1.0-py3-none-.whl",  # empty tag component
    "foo-1.0-3py-none-any.whl",  # interpreter not an identifier
    "foo-1.0-none-any.whl",  # too few parts
    "foo-1.0-1-2-py3-none-any.whl",  # too many parts
    "foo__bar-1.0-py3-none-any.whl",
    "Foo.Bar-1.0-py3-none-any.whl",
    "foo-not.a.version!-py3-none-any.whl",
    "foo-1.0.tar.gz",
    "foo-1.0.zip",
    "foo-1.0-py2.7.egg",
    "not a dist.txt",
])
def test_page_file_names_parse_as_packaging_does(filename: str) -> None:
    """The page parser's remembered parts give exactly `parse_dist_filename`'s answer, whether
    the head or the tags were seen before on the page or not."""
    names = _FileNames()
    for warm in ("foo-1.0-py3-none-any.whl", filename, filename):
        names.parse(warm)
        assert names.parse(filename) == parse_dist_filename(filename)
