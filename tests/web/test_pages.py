"""Every page's status and content, through the app (no browser): a real service over the real
local index, environments built for real."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import ApiServer
from tests.support.index_server import LocalIndex
from venvd.service import Service, Settings


class Site(httpx.Client):
    service: Service
    url: str


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def site(request: pytest.FixtureRequest, web_index: LocalIndex,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The real app on uvicorn (tokens off) over a real service, on SQLite and on PostgreSQL; a
    client that does not follow redirects."""
    data = tmp_path_factory.mktemp("web-pages")
    database = {} if request.param == "sqlite" else {
        "database_url": request.getfixturevalue("postgres_url")}
    service = Service.open(Settings(data_dir=data, index_url=web_index.url, http_retries=1,
                                    **database))  # type: ignore[arg-type]
    server = ApiServer(service)
    with Site(base_url=server.url, timeout=60) as client:
        client.service, client.url = service, server.url
        yield client
    server.stop()
    service.close()


@pytest.fixture(scope="module")
def built(site: Site) -> str:
    """The id of a ready environment of webapp (requested through the form)."""
    answer = site.post("/request", data={"requirements": "webapp\n# a comment\n", "python": "",
                                         "platform": "current"})
    assert answer.status_code == 303, answer.text
    env_id = answer.headers["location"].rsplit("/", 1)[1]
    assert site.service.environments.wait(env_id, timeout=120)["status"] == "ready"
    return env_id


def _title(html: str) -> str:
    match = re.search(r"<title>(.*?)</title>", html, re.S)
    assert match, html[:500]
    return match.group(1)


def test_environment_page_shows_lock_timings_downloads(site: Site, built: str) -> None:
    answer = site.get(f"/environments/{built}")
    assert answer.status_code == 200
    html = answer.text
    assert _title(html).startswith("Environment ")
    assert "status-ready" in html
    for name in ("webapp", "lib", "util", "base"):
        assert f'href="/packages/{name}"' in html
    assert re.search(r"<code class=\"hash\">[0-9a-f]{64}</code>", html)
    assert "Build timings" in html and "Manifest" in html
    assert f"venvd create ./venv --server {site.url}" in html and "webapp" in html
    assert 'http-equiv="refresh"' not in html  # ready: nothing to follow
    for download in ("archive", "requirements.txt", "pylock.toml", "sbom.json"):
        assert f"/environments/{built}/{download}" in html


def test_downloads_are_the_api_formats(site: Site, built: str) -> None:
    text = site.get(f"/environments/{built}/requirements.txt")
    assert text.status_code == 200
    assert "webapp==1.0" in text.text and "--hash=sha256:" in text.text
    pylock = site.get(f"/environments/{built}/pylock.toml")
    assert pylock.status_code == 200 and 'lock-version = "1.0"' in pylock.text
    sbom = site.get(f"/environments/{built}/sbom.json")
    assert sbom.status_code == 200 and sbom.json()["bomFormat"] == "CycloneDX"
    archive = site.get(f"/environments/{built}/archive")
    api = site.get(f"/v1/environments/{built}/artifact")
    assert archive.status_code == 200 and archive.content == api.content and archive.content


def test_unknown_environment_is_a_404_page(site: Site) -> None:
    for path in ("/environments/nope", "/environments/nope/graph", "/environments/nope/pylock.toml"):
        answer = site.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")
        assert "Not found" in _title(answer.text) and "nope" in answer.text
        assert "Traceback" not in answer.text


def test_request_form_and_its_errors(site: Site) -> None:
    form = site.get("/request")
    assert form.status_code == 200
    for control in ("requirements", "python", "platform"):
        assert f'<label for="{control}"' in form.text and f'id="{control}"' in form.text
    bad = site.post("/request", data={"requirements": "webapp >>> 1", "platform": "current"})
    assert bad.status_code == 422 and "webapp &gt;&gt;&gt; 1" in bad.text  # named, escaped, kept
    empty = site.post("/request", data={"requirements": "  \n# only a comment\n"})
    assert empty.status_code == 400 and "at least one requirement" in empty.text
    target = site.post("/request", data={"requirements": "solo", "python": "3.12",
                                         "platform": "no_such_platform"})
    assert target.status_code == 422 and "no_such_platform" in target.text
    missing = site.post("/request", data={"requirements": "not-on-the-index"})
    assert missing.status_code == 404 and "not-on-the-index" in missing.text


def test_a_form_of_another_site_is_refused(site: Site) -> None:
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Origin": "null"}, {"Sec-Fetch-Site": "same-site", "Origin": site.url}):
        answer = site.post("/request", data={"requirements": "solo"}, headers=headers)
        assert answer.status_code == 403 and "another site" in answer.text
    # Behind a proxy that rewrites Host: the browser's own word, or the forwarded host.
    for headers in ({"Sec-Fetch-Site": "same-origin", "Origin": "https://venvd.example"},
                    {"Origin": "https://venvd.example", "X-Forwarded-Host": "venvd.example"},
                    {"Origin": site.url}):
        answer = site.post("/request", data={"requirements": "solo"}, headers=headers)
        assert answer.status_code == 303, (headers, answer.text[:300])


def test_static_assets_are_served(site: Site) -> None:
    css = site.get("/static/venvd.css")
    js = site.get("/static/venvd.js")
    assert css.status_code == 200 and "#graph" in css.text
    assert js.status_code == 200 and "EventSource" in js.text
    assert Path(__file__).parents[2].joinpath("src/venvd/web/static/venvd.js").exists()


def test_json_api_and_docs_unchanged(site: Site) -> None:
    assert site.get("/v1/environments/nope").json()["error"]["code"] == "not_found"
    paths = site.get("/openapi.json").json()["paths"]
    assert not any(p == "/" or p.startswith(("/environments", "/packages", "/request"))
                   for p in paths)


@pytest.fixture(scope="module")
def solo(site: Site) -> str:
    """A second ready environment (solo alone), for the filters."""
    answer = site.post("/request", data={"requirements": "solo"})
    assert answer.status_code == 303, answer.text
    env_id = answer.headers["location"].rsplit("/", 1)[1]
    assert site.service.environments.wait(env_id, timeout=120)["status"] == "ready"
    return env_id


def test_environments_list_and_its_filters(site: Site, built: str, solo: str) -> None:
    everything = site.get("/")
    assert everything.status_code == 200 and _title(everything.text) == "Environments · venvd"
    assert built[:12] in everything.text and solo[:12] in everything.text
    for control in ("q", "package", "specifier", "target", "status"):
        assert f'<label for="{control}"' in everything.text
    with_base = site.get("/", params={"package": "base", "specifier": ">=1"})
    assert with_base.status_code == 200
    assert built[:12] in with_base.text and solo[:12] not in with_base.text
    assert f"/environments/{built}/graph?highlight=base" in with_base.text  # the why link
    none = site.get("/", params={"package": "base", "specifier": ">=3"})
    assert built[:12] not in none.text and "None found." in none.text
    by_root = site.get("/", params={"q": "solo"})
    assert solo[:12] in by_root.text and built[:12] not in by_root.text
    failed = site.get("/", params={"status": "failed"})
    assert built[:12] not in failed.text and solo[:12] not in failed.text


def test_bad_filters_are_422_pages_naming_them(site: Site, built: str) -> None:
    bad = site.get("/", params={"package": "base", "specifier": "<<2"})
    assert bad.status_code == 422 and "&lt;&lt;2" in bad.text
    assert bad.headers["content-type"].startswith("text/html")
    status = site.get("/", params={"status": "sleeping"})
    assert status.status_code == 422 and "sleeping" in status.text
    held = site.get("/packages/base", params={"specifier": "~=nonsense"})
    assert held.status_code == 422 and "~=nonsense" in held.text
    page_number = site.get("/", params={"page": "0"})
    assert page_number.status_code == 422


def test_packages_search_and_which_environments(site: Site, built: str, solo: str) -> None:
    found = site.get("/packages", params={"q": "bas"})
    assert found.status_code == 200 and 'href="/packages/base"' in found.text
    assert 'href="/packages/solo"' not in found.text
    base = site.get("/packages/base")
    assert base.status_code == 200 and "<code>2.0</code>" in base.text
    assert built[:12] in base.text and solo[:12] not in base.text
    assert site.get("/packages/base", params={"specifier": "<1"}).text.count("None found.") == 1
    unknown = site.get("/packages/never-held")
    assert unknown.status_code == 404 and "never-held" in unknown.text


def test_graph_svg_and_highlighted_paths(site: Site, built: str) -> None:
    plain = site.get(f"/environments/{built}/graph")
    assert plain.status_code == 200 and "<svg" in plain.text
    assert 'class="node root"' in plain.text and plain.text.count('data-name=') == 4
    assert 'class="on"' not in plain.text
    lit = site.get(f"/environments/{built}/graph", params={"highlight": "base"})
    assert lit.status_code == 200
    assert "webapp → lib → base" in lit.text and "webapp → util → base" in lit.text
    assert lit.text.count('<path d=') == 4 and lit.text.count('class="on"') == 4  # every edge
    assert 'data-name="base"\n  class="node on target"' in lit.text
    why = site.get(f"/environments/{built}/why/base")
    assert why.status_code == 200 and sorted(why.json()["paths"]) == [
        ["webapp", "lib", "base"], ["webapp", "util", "base"]]
    missing = site.get(f"/environments/{built}/graph", params={"highlight": "solo"})
    assert missing.status_code == 404 and "solo" in missing.text


def test_advisory_impact_page_and_package_section(site: Site, built: str, solo: str) -> None:
    # (On PostgreSQL the schema is the session's: other modules' rows may be there too.)
    before = site.get("/advisories", params={"advisory": "PYSEC-0000-WEB"})
    assert before.status_code == 200 and "No environment is affected" in before.text
    site.service.advisories.import_documents([("web-test.json", {
        "schema_version": "1.6.0", "id": "PYSEC-0000-WEB", "aliases": ["CVE-0000-0001"],
        "modified": "2026-11-01T00:00:00Z", "summary": "base leaks secrets",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "base"},
                      "ranges": [{"type": "ECOSYSTEM",
                                  "events": [{"introduced": "0"}, {"fixed": "2.0.1"}]}]}]})])
    listed = site.get("/advisories")
    assert listed.status_code == 200
    assert "PYSEC-0000-WEB" in listed.text and "CVE-0000-0001" in listed.text
    assert "base leaks secrets" in listed.text and "<td>2.0.1</td>" in listed.text
    assert built[:12] in listed.text and solo[:12] not in listed.text
    other = site.get("/advisories", params={"package": "solo"})
    assert "PYSEC-0000-WEB" not in other.text
    section = site.get("/packages/base")
    assert "Advisories affecting it (" in section.text and "PYSEC-0000-WEB" in section.text
    assert "Advisories affecting it" not in site.get("/packages/util").text


@pytest.mark.parametrize("path", [
    "/?q=" + "x" * 5000, "/?page=-1", "/?page=abc", "/?status=%00", "/?package=%ff%fe",
    "/packages?q=" + "é" * 300, "/packages/%2e%2e", "/packages/" + "a" * 3000,
    "/environments/" + "0" * 3000, "/environments/x/graph?highlight=" + "y" * 300,
    "/environments/x/why/%00", "/advisories?page=0", "/login?next=https://evil.example/",
])
def test_odd_input_answers_4xx_pages_never_5xx(site: Site, built: str, path: str) -> None:
    answer = site.get(path)
    assert answer.status_code < 500, (path, answer.text[:300])
    assert "Traceback" not in answer.text
    if answer.status_code >= 400:
        assert answer.headers["content-type"].startswith("text/html")
        assert 'role="alert"' in answer.text


class _Controls(HTMLParser):
    """The form controls, labels and landmarks of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        given = dict(attrs)
        if tag == "label" and given.get("for"):
            self.labelled.add(given["for"] or "")
        if tag in ("input", "select", "textarea") and given.get("type") != "hidden":
            self.controls.append(given)


def test_every_page_has_a_title_landmarks_and_labelled_controls(site: Site, built: str) -> None:
    for path in ("/", "/?package=base", "/packages", "/packages/base", "/advisories", "/request",
                 "/login", f"/environments/{built}", f"/environments/{built}/graph?highlight=base",
                 "/environments/nope"):
        answer = site.get(path)
        parsed = _Controls()
        parsed.feed(answer.text)
        assert _title(answer.text).endswith(" · venvd"), path
        assert {"main", "nav", "header", "h1"} <= parsed.tags, path
        for control in parsed.controls:
            assert control.get("id") in parsed.labelled or control.get("aria-label"), (path, control)


def test_a_failed_build_shows_its_error_and_log(site: Site) -> None:
    answer = site.post("/request", data={"requirements": "broken"})
    assert answer.status_code == 303, answer.text
    env_id = answer.headers["location"].rsplit("/", 1)[1]
    assert site.service.environments.wait(env_id, timeout=120)["status"] == "failed"
    shown = site.get(f"/environments/{env_id}")
    assert shown.status_code == 200 and "status-failed" in shown.text
    assert "The build failed" in shown.text and "missing compiler" in shown.text
    assert f"/environments/{env_id}/archive" not in shown.text  # nothing to download
    assert f"/environments/{env_id}/pylock.toml" in shown.text  # the lock is there
    assert site.get(f"/environments/{env_id}/sbom.json").status_code == 409
    graph = site.get(f"/environments/{env_id}/graph")
    assert graph.status_code == 200 and "drawn once its build is ready" in graph.text
