"""The simple-page renderer: PEP 503/691/700/714 fields, escaping, and content negotiation.

Pages are read back with venvd's own index parser (what it reads from any index), and with the
standard library's JSON and HTML parsers for what that parser does not keep."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from packaging.utils import canonicalize_name

from venvd.api._simple_render import (
    HTML_TYPE,
    JSON_TYPE,
    ListedFile,
    PageFormat,
    negotiate,
    render_index,
    render_project,
)
from venvd.errors import NotAcceptable
from venvd.index._pages import parse_html, parse_json

SHA_A = "a" * 64
SHA_B = "b" * 64
SHA_M = "c" * 64

FILES = [
    ListedFile("demo-1.0.tar.gz", "https://example.test/files/demo-1.0.tar.gz", SHA_A,
               requires_python=">=3.8,<4", size=100,
               upload_time=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ListedFile("demo-1.10-py3-none-any.whl", "/files/x/demo-1.10-py3-none-any.whl?a=1&b=2",
               SHA_B, yanked='bad "quote" <b>', size=200, core_metadata_sha256=SHA_M),
    ListedFile("demo-1.2-py3-none-any.whl", "https://example.test/demo-1.2-py3-none-any.whl",
               None, yanked="", size=300, core_metadata_sha256=""),
]


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[dict[str, str | None]] = []
        self.meta: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))
        elif tag == "meta":
            values = dict(attrs)
            self.meta[values.get("name") or ""] = values.get("content")


def test_json_project_page_carries_every_field() -> None:
    doc = json.loads(render_project(PageFormat.JSON, "demo", FILES))
    assert doc["meta"] == {"api-version": "1.1"}
    assert doc["name"] == "demo"
    assert doc["versions"] == ["1.0", "1.2", "1.10"]  # PEP 440 order, not string order
    sdist, wheel, bare = doc["files"]
    assert sdist == {
        "filename": "demo-1.0.tar.gz", "url": "https://example.test/files/demo-1.0.tar.gz",
        "hashes": {"sha256": SHA_A}, "requires-python": ">=3.8,<4", "yanked": False,
        "size": 100, "upload-time": "2024-01-02T03:04:05Z"}
    assert wheel["yanked"] == 'bad "quote" <b>'
    assert wheel["core-metadata"] == wheel["dist-info-metadata"] == {"sha256": SHA_M}
    assert bare["yanked"] is True and bare["hashes"] == {}
    assert bare["core-metadata"] is True
    # venvd's own client reads it back into the same facts.
    parsed = parse_json(render_project(PageFormat.JSON, "demo", FILES),
                        "https://server.test/simple/demo/", canonicalize_name("demo"), "")
    assert [(d.filename, d.sha256, d.yanked, d.metadata_sha256) for d in parsed] == [
        ("demo-1.0.tar.gz", SHA_A, None, None),
        ("demo-1.10-py3-none-any.whl", SHA_B, 'bad "quote" <b>', SHA_M),
        ("demo-1.2-py3-none-any.whl", None, "", ""),
    ]
    assert parsed[1].url == "https://server.test/files/x/demo-1.10-py3-none-any.whl?a=1&b=2"


def test_api_version_is_1_0_when_a_size_is_unknown() -> None:
    files = [FILES[0], ListedFile("demo-2.0.tar.gz", "/f/demo-2.0.tar.gz", SHA_A)]
    doc = json.loads(render_project(PageFormat.JSON, "demo", files))
    assert doc["meta"]["api-version"] == "1.0"
    assert "versions" not in doc  # required only at 1.1, where it could be wrong
    assert doc["files"][0]["size"] == 100 and "size" not in doc["files"][1]
    page = _Anchors()
    page.feed(render_project(PageFormat.HTML, "demo", files).decode())
    assert page.meta["pypi:repository-version"] == "1.0"


@pytest.mark.parametrize("kind", [PageFormat.HTML, PageFormat.LEGACY_HTML])
def test_html_project_page(kind: PageFormat) -> None:
    body = render_project(kind, "demo", FILES).decode()
    # PEP 503: the specifier's `<` and `>` are escaped in the attribute, and so are quotes.
    assert 'data-requires-python="&gt;=3.8,&lt;4"' in body
    assert "&lt;b&gt;" in body and '"quote"' not in body
    assert "?a=1&amp;b=2" in body
    page = _Anchors()
    page.feed(body)
    assert page.meta["pypi:repository-version"] == "1.1"
    sdist, wheel, bare = page.anchors
    assert sdist["href"] == f"https://example.test/files/demo-1.0.tar.gz#sha256={SHA_A}"
    assert sdist["data-requires-python"] == ">=3.8,<4"
    assert "data-yanked" not in sdist and "data-core-metadata" not in sdist
    assert wheel["data-yanked"] == 'bad "quote" <b>'
    assert wheel["data-core-metadata"] == wheel["data-dist-info-metadata"] == f"sha256={SHA_M}"
    assert bare["href"] == "https://example.test/demo-1.2-py3-none-any.whl"
    assert bare["data-yanked"] == "" and bare["data-core-metadata"] == "true"
    parsed = parse_html(body.encode(), "https://server.test/simple/demo/",
                        canonicalize_name("demo"), "")
    assert [(d.filename, d.sha256, d.requires_python, d.yanked, d.metadata_sha256)
            for d in parsed] == [
        ("demo-1.0.tar.gz", SHA_A, ">=3.8,<4", None, None),
        ("demo-1.10-py3-none-any.whl", SHA_B, None, 'bad "quote" <b>', SHA_M),
        ("demo-1.2-py3-none-any.whl", None, None, "", ""),
    ]


def test_upload_time_is_utc_with_z() -> None:
    from datetime import timedelta, timezone

    moment = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=timezone(timedelta(hours=2)))
    file = ListedFile("demo-1.0.tar.gz", "/f", SHA_A, size=1, upload_time=moment)
    doc = json.loads(render_project(PageFormat.JSON, "demo", [file]))
    assert doc["files"][0]["upload-time"] == "2024-05-01T10:00:00.250000Z"


def test_root_index_both_formats() -> None:
    doc = json.loads(render_index(PageFormat.JSON, ["zope-interface", "demo", "demo"]))
    assert doc == {"meta": {"api-version": "1.1"},
                   "projects": [{"name": "demo"}, {"name": "zope-interface"}]}
    page = _Anchors()
    page.feed(render_index(PageFormat.HTML, ["b", "a"]).decode())
    assert [a["href"] for a in page.anchors] == ["a/", "b/"]


@pytest.mark.parametrize(("accept", "expected"), [
    (None, PageFormat.LEGACY_HTML),
    ("", PageFormat.LEGACY_HTML),
    ("text/html", PageFormat.LEGACY_HTML),
    (JSON_TYPE, PageFormat.JSON),
    # pip's header: JSON first, then the v1 HTML, then legacy HTML.
    (f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01", PageFormat.JSON),
    (f"{JSON_TYPE};q=0.2, text/html", PageFormat.LEGACY_HTML),
    ("application/vnd.pypi.simple.v1+html, text/html", PageFormat.HTML),  # a tie: v1 over legacy
    ("application/*", PageFormat.JSON),
    ("text/*;q=0.5, application/json", PageFormat.LEGACY_HTML),
    ("*/*", PageFormat.LEGACY_HTML),  # curl's default: the legacy answer, as PyPI gives
    (f"*/*, {JSON_TYPE};q=0", PageFormat.LEGACY_HTML),  # q=0 refuses JSON; */* lets the rest in
    (f"*/*;q=0.1, {HTML_TYPE};q=0.2", PageFormat.HTML),
    ("text/html;q=0.9, */*;q=0.1", PageFormat.LEGACY_HTML),
    ("text/html;q=bogus, application/vnd.pypi.simple.v1+html;q=0.3", PageFormat.HTML),
    ("TEXT/HTML", PageFormat.LEGACY_HTML),
])
def test_negotiate(accept: str | None, expected: PageFormat) -> None:
    assert negotiate(accept) is expected


@pytest.mark.parametrize("accept", ["application/json", "image/png, text/plain",
                                    f"{JSON_TYPE};q=0, text/html;q=0, */*;q=0", "garbage"])
def test_negotiate_nothing_acceptable(accept: str) -> None:
    with pytest.raises(NotAcceptable) as caught:
        negotiate(accept)
    assert caught.value.http_status == 406
    assert JSON_TYPE in caught.value.details["offered"]


def test_format_parameter_wins_over_accept() -> None:
    assert negotiate("text/html", JSON_TYPE) is PageFormat.JSON
    assert negotiate(JSON_TYPE, "text/html") is PageFormat.LEGACY_HTML
    with pytest.raises(NotAcceptable):
        negotiate(JSON_TYPE, "application/xml")
