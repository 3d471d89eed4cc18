"""`/simple/` over a real upstream: the listing, rewritten URLs, built wheels, metadata files,
yanking, negotiation, redirects, 404s, hash verification and upstream changes (ETag, page_ttl)."""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

from tests.simple.conftest import Served, get_json
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


def _files(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["filename"]: f for f in doc["files"]}


def _fetch(served: Served, page: str, url: str) -> bytes:
    answer = served.client.get(urljoin(f"{served.url}{page}/", url))
    assert answer.status_code == 200, answer.text
    return answer.content


def test_project_page_lists_upstream_files_served_from_here(
    upstream: LocalIndex, serve: Callable[..., Served]
) -> None:
    served = serve(upstream)
    answer = get_json(served.client, "/simple/lib/")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == JSON_TYPE
    assert "accept" in answer.headers["vary"].lower()
    doc = answer.json()
    assert doc["meta"]["api-version"] == "1.1" and doc["versions"] == ["1.0", "2.0"]
    files = _files(doc)
    assert set(files) == {"lib-1.0-py2.py3-none-any.whl", "lib-2.0-py3-none-any.whl"}
    newer = files["lib-2.0-py3-none-any.whl"]
    upstream_file = upstream.files["lib-2.0-py3-none-any.whl"]
    assert newer["hashes"] == {"sha256": upstream_file.sha256}
    assert newer["requires-python"] == ">=3.8"
    assert newer["size"] == upstream_file.path.stat().st_size
    assert newer["upload-time"] == "2024-01-01T00:00:00Z"
    # The URL points at this server, not upstream; the bytes are upstream's, verified.
    assert newer["url"] == f"../../files/{upstream_file.sha256}/lib-2.0-py3-none-any.whl"
    assert upstream.base_url not in answer.text
    assert _fetch(served, "lib", newer["url"]) == upstream_file.path.read_bytes()
    # PEP 658/714: the metadata file is proxied, and its bytes hash to what the page says.
    metadata = _fetch(served, "lib", newer["url"] + ".metadata")
    assert hashlib.sha256(metadata).hexdigest() == newer["core-metadata"]["sha256"]
    assert newer["dist-info-metadata"] == newer["core-metadata"]
    assert metadata == upstream_file.metadata
    # Held now: a second download does not go upstream again.
    before = len(upstream.requests_to("lib-2.0-py3-none-any.whl"))
    assert _fetch(served, "lib", newer["url"]) == upstream_file.path.read_bytes()
    assert len(upstream.requests_to("lib-2.0-py3-none-any.whl")) == before == 1
    # Unchanged upstream and builds: the same listing (pages rendered from it are reused).
    simple = served.service.simple
    assert simple.listing("lib") is simple.listing("lib")
    ranged = served.client.get(urljoin(f"{served.url}lib/", newer["url"]),
                               headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.content == upstream_file.path.read_bytes()[:10]


def test_built_wheel_is_listed_with_its_own_metadata(
    upstream: LocalIndex, serve: Callable[..., Served]
) -> None:
    served = serve(upstream)
    before = _files(get_json(served.client, "/simple/built/").json())
    assert set(before) == {"built-1.0.tar.gz"}  # nothing built yet: the sdist only
    assert "core-metadata" not in before["built-1.0.tar.gz"]
    served.build("built")
    files = _files(get_json(served.client, "/simple/built/").json())
    wheels = [name for name in files if name.endswith(".whl")]
    assert len(wheels) == 1, files
    wheel = files[wheels[0]]
    data = _fetch(served, "built", wheel["url"])
    assert hashlib.sha256(data).hexdigest() == wheel["hashes"]["sha256"]
    assert len(data) == wheel["size"]
    metadata = _fetch(served, "built", wheel["url"] + ".metadata")
    assert hashlib.sha256(metadata).hexdigest() == wheel["core-metadata"]["sha256"]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert metadata == zf.read("built-1.0.dist-info/METADATA")
    # The sdist is still listed (other platforms build it themselves).
    assert "built-1.0.tar.gz" in files


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: dict[str, dict[str, str | None]] = {}
        self._attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._attrs = dict(attrs)

    def handle_data(self, data: str) -> None:
        if self._attrs:
            self.anchors[data] = self._attrs
            self._attrs = {}


def test_html_page_and_negotiation(upstream: LocalIndex, serve: Callable[..., Served],
                                   database_url: str | None) -> None:
    served = serve(upstream, database_url=database_url)
    html = served.client.get("/simple/gone/")  # no Accept: legacy HTML, as PEP 503 clients expect
    assert html.status_code == 200
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    page = _Anchors()
    page.feed(html.text)
    yanked = page.anchors["gone-1.1-py3-none-any.whl"]
    assert yanked["data-yanked"] == "broken release"
    sha = upstream.files["gone-1.1-py3-none-any.whl"].sha256
    assert yanked["href"] == f"../../files/{sha}/gone-1.1-py3-none-any.whl#sha256={sha}"
    assert yanked["data-core-metadata"] == yanked["data-dist-info-metadata"]
    assert "data-yanked" not in page.anchors["gone-1.0-py3-none-any.whl"]
    doc = get_json(served.client, "/simple/gone/").json()
    assert _files(doc)["gone-1.1-py3-none-any.whl"]["yanked"] == "broken release"
    assert _files(doc)["gone-1.0-py3-none-any.whl"]["yanked"] is False
    v1_html = served.client.get("/simple/gone/", headers={
        "Accept": f"{JSON_TYPE};q=0.5, application/vnd.pypi.simple.v1+html"})
    assert v1_html.headers["content-type"] == "application/vnd.pypi.simple.v1+html"
    by_format = served.client.get("/simple/gone/", params={"format": JSON_TYPE})
    assert by_format.headers["content-type"] == JSON_TYPE
    refused = served.client.get("/simple/gone/", headers={"Accept": "application/xml"})
    assert refused.status_code == 406
    assert refused.json()["error"]["code"] == "not_acceptable"
    assert served.client.get("/simple/lib/").status_code == 200
    root = get_json(served.client, "/simple/").json()
    # The projects whose pages are stored, sorted; no crawl. (The PostgreSQL schema is shared by
    # the session's tests: others' projects may be there too.)
    names = [p["name"] for p in root["projects"]]
    assert names == sorted(names) and {"gone", "lib"} <= set(names)
    if database_url is None:
        assert names == ["gone", "lib"]
    assert not upstream.requests_to("/simple/")  # the upstream root was never asked for


def test_redirect_to_the_normalized_name(upstream: LocalIndex,
                                         serve: Callable[..., Served]) -> None:
    served = serve(upstream)
    answer = served.client.get("/simple/Gone_/", params={"format": JSON_TYPE})
    assert answer.status_code == 404  # "Gone_" is not a valid name (a trailing separator)
    moved = served.client.get("/simple/GONE/", params={"format": JSON_TYPE})
    assert moved.status_code == 301
    location = urlsplit(moved.headers["location"])
    assert location.path == "../gone/" and parse_qs(location.query) == {"format": [JSON_TYPE]}
    followed = served.client.get("/simple/Gone/", follow_redirects=True)
    assert followed.status_code == 200 and str(followed.url).endswith("/simple/gone/")


def test_unknown_projects_and_files_are_404(upstream: LocalIndex, tmp_path: Path,
                                            serve: Callable[..., Served]) -> None:
    served = serve(upstream)
    missing = served.client.get("/simple/no-such-project/")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "project_not_found"
    sha = upstream.files["lib-1.0-py2.py3-none-any.whl"].sha256
    for path in (f"/files/{'0' * 64}/lib-1.0-py2.py3-none-any.whl",  # wrong hash
                 f"/files/{sha}/lib-9.0-py3-none-any.whl",  # another name under a listed hash
                 f"/files/{sha}/notadist.txt",
                 f"/files/{sha[:10]}/lib-1.0-py2.py3-none-any.whl",
                 f"/files/{sha}/lib-1.0.tar.gz.metadata"):
        answer = served.client.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] in ("not_found", "project_not_found")
    # A file upstream serves but lists nowhere is not reachable through this server.
    secret = make_wheel(tmp_path / "secret", "lib", "3.0")
    upstream.serve_unlisted(secret)
    secret_sha = hashlib.sha256(secret.read_bytes()).hexdigest()
    assert served.client.get(f"/files/{secret_sha}/{secret.name}").status_code == 404
    assert not upstream.requests_to(secret.name)


def test_bytes_that_do_not_match_are_never_served(upstream: LocalIndex,
                                                  serve: Callable[..., Served]) -> None:
    served = serve(upstream)
    entry = _files(get_json(served.client, "/simple/app/").json())["app-1.0-py2.py3-none-any.whl"]
    original = upstream.files["app-1.0-py2.py3-none-any.whl"].path
    good = original.read_bytes()
    original.write_bytes(good[:-10] + b"0123456789")  # upstream now serves other bytes
    tampered = served.client.get(urljoin(f"{served.url}app/", entry["url"]))
    assert tampered.status_code == 502
    assert tampered.json()["error"]["code"] == "hash_mismatch"
    cache = served.service.settings.data_dir / "cache" / "wheels-v1"
    assert not list(cache.rglob("app-1.0-py2.py3-none-any.whl"))
    original.write_bytes(good)
    assert _fetch(served, "app", entry["url"]) == good


def test_upstream_changes_are_seen_after_page_ttl(upstream: LocalIndex, tmp_path: Path,
                                                  serve: Callable[..., Served]) -> None:
    served = serve(upstream, page_ttl=1.0)
    answer = get_json(served.client, "/simple/lib/")
    first = _files(answer.json())
    assert "lib-3.0-py3-none-any.whl" not in first
    etag = answer.headers["etag"]
    not_modified = served.client.get("/simple/lib/", headers={
        "Accept": JSON_TYPE, "If-None-Match": f'W/"other", {etag}'})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    html = served.client.get("/simple/lib/", headers={"If-None-Match": etag})
    assert html.status_code == 200 and html.headers["etag"] != etag  # another body, another tag
    time.sleep(1.2)
    unchanged = _files(get_json(served.client, "/simple/lib/").json())
    assert unchanged == first
    # Revalidated with the stored ETag (answered 304), not fetched whole.
    asked = [r for r in upstream.requests_to("/simple/lib/")]
    assert len(asked) == 2 and "If-None-Match" in asked[1].headers
    upstream.add(make_wheel(tmp_path / "new", "lib", "3.0"))
    cached = _files(get_json(served.client, "/simple/lib/").json())
    assert "lib-3.0-py3-none-any.whl" not in cached  # fresh for page_ttl: not asked again
    time.sleep(1.2)
    changed = served.client.get("/simple/lib/", headers={"Accept": JSON_TYPE,
                                                         "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    later = _files(changed.json())
    assert "lib-3.0-py3-none-any.whl" in later
    assert _fetch(served, "lib", later["lib-3.0-py3-none-any.whl"]["url"]) == (
        upstream.files["lib-3.0-py3-none-any.whl"].path.read_bytes())


def test_an_upstream_outage_lists_the_stored_page(upstream: LocalIndex,
                                                  serve: Callable[..., Served]) -> None:
    served = serve(upstream, page_ttl=0.5)
    files = _files(get_json(served.client, "/simple/lib/").json())
    held = files["lib-2.0-py3-none-any.whl"]["url"]
    _fetch(served, "lib", held)
    time.sleep(0.7)  # the page is stale: the next listing asks upstream, which is down
    for prefix in ("/simple/lib/", "/simple/app/", "/files/"):
        upstream.fail(prefix, 503, times=100)
    during = get_json(served.client, "/simple/lib/")
    assert during.status_code == 200 and _files(during.json()) == files
    assert _fetch(served, "lib", held) == upstream.files["lib-2.0-py3-none-any.whl"].path.read_bytes()
    not_held = served.client.get(urljoin(f"{served.url}lib/",
                                         files["lib-1.0-py2.py3-none-any.whl"]["url"]))
    assert not_held.status_code == 502
    assert not_held.json()["error"]["code"] == "upstream_error"
    assert served.client.get("/simple/app/").status_code == 502  # never stored: nothing to list


def test_the_index_needs_a_read_token_when_tokens_are_enforced(
    upstream: LocalIndex, serve: Callable[..., Served]
) -> None:
    from venvd.store import Tokens

    served = serve(upstream, auth="required")
    sha = upstream.files["lib-2.0-py3-none-any.whl"].sha256
    for path in ("/simple/", "/simple/lib/", f"/files/{sha}/lib-2.0-py3-none-any.whl"):
        assert served.client.get(path).status_code == 401, path
    _record, secret = Tokens(served.service.store).create("reader", "read")
    allowed = served.client.get("/simple/lib/", headers={"Authorization": f"Bearer {secret}"})
    assert allowed.status_code == 200
