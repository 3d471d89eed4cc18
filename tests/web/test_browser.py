"""Click through the UI in a real browser (Debian's Chromium via Playwright) against a real
`venvd serve` over the real local index. A failure saves a screenshot (see conftest)."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def test_request_an_environment_and_watch_its_build(page: Any, web_server: str) -> None:
    """The form posts, the page it leads to is live (the sdist's build takes a moment), and its
    script follows the events to ready, then shows the finished build (with JavaScript on, the
    <noscript> refresh does nothing: only the event stream can get the page there)."""
    page.goto(f"{web_server}/request")
    page.get_by_label("Requirements, one a line (PEP 508)").fill("webtool")
    page.get_by_label("Python version").fill("")
    with page.expect_navigation(url=re.compile(r"/environments/[0-9a-f]{64}$")) as landed:
        page.get_by_role("button", name="Request the environment").click()
    first = landed.value.text()
    assert 'id="progress"' in first and "status-ready" not in first  # served while building
    page.locator("#status", has_text="ready").wait_for()
    page.get_by_role("heading", name="Build timings").wait_for()
    assert page.locator("#progress").count() == 0
    assert page.get_by_role("link", name="SBOM (CycloneDX JSON)").is_visible()


@pytest.fixture(scope="module")
def requested(browser: Any, web_server: str) -> str:
    """Request webapp through the form, follow the page to the finished build; its id."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{web_server}/request")
    page.get_by_label("Requirements, one a line (PEP 508)").fill("webapp\n")
    page.get_by_label("Platform").select_option("current")
    page.get_by_role("button", name="Request the environment").click()
    page.wait_for_url(re.compile(r"/environments/[0-9a-f]{64}$"))
    env_id = page.url.rsplit("/", 1)[1]
    # Live: the EventSource updates the status, then the page reloads with the finished build.
    page.locator("#status", has_text="ready").wait_for()
    page.get_by_role("heading", name="Build timings").wait_for()
    assert page.title().startswith("Environment ")
    context.close()
    return env_id


def test_request_follow_progress_to_ready(page: Any, web_server: str, requested: str) -> None:
    page.goto(f"{web_server}/environments/{requested}")
    assert page.locator("#status").inner_text() == "ready"
    assert page.get_by_role("link", name=re.compile("^Archive")).is_visible()
    assert "webapp" in page.get_by_label("Create it with the client").input_value()
    assert page.get_by_role("button", name="Copy").is_visible()  # shown by the script


def test_graph_highlights_the_paths_to_a_package(page: Any, web_server: str, requested: str) -> None:
    page.goto(f"{web_server}/environments/{requested}")
    page.get_by_role("link", name="Dependency graph").click()
    page.wait_for_url(re.compile(r"/graph$"))
    assert page.locator("#graph .node").count() == 4
    page.locator('#graph .node[data-name="base"]').click()  # the script asks `why`, no reload
    page.locator("#paths", has_text="2 paths from a root to base").wait_for()
    assert page.locator("#graph .node.target").get_attribute("data-name") == "base"
    assert page.locator("#graph .edges path.on").count() == 4
    assert page.url.endswith("?highlight=base")
    paths = page.locator("#paths li").all_inner_texts()
    assert sorted(paths) == ["webapp → lib → base", "webapp → util → base"]


def test_search_a_package_and_follow_it_to_its_environments(
        page: Any, web_server: str, requested: str) -> None:
    page.goto(web_server)
    page.get_by_role("link", name="Packages").click()
    page.get_by_label("Package name").fill("uti")
    page.get_by_label("Package name").press("Enter")
    page.get_by_role("link", name="util", exact=True).click()
    page.wait_for_url(re.compile(r"/packages/util$"))
    page.get_by_label("Version specifier").fill(">=1")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("link", name=requested[:12], exact=True).click()
    page.wait_for_url(f"{web_server}/environments/{requested}")
    assert page.get_by_role("heading", name=re.compile("^Lock")).is_visible()


def test_unknown_environment_shows_a_404_page(page: Any, web_server: str) -> None:
    answer = page.goto(f"{web_server}/environments/no-such-id")
    assert answer.status == 404
    assert page.title() == "Not found · venvd"
    assert "no-such-id" in page.get_by_role("alert").inner_text()


def test_keyboard_only_list_navigation(page: Any, web_server: str, requested: str) -> None:
    page.goto(web_server)
    # Tab from the top: skip link, the navigation, the filter form, then the rows' links.
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent")
        if focused == requested[:12]:
            break
    else:
        pytest.fail("tabbing never reached the environment's link")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{web_server}/environments/{requested}")
    # The filter form by keyboard: type into the search field, submit with Enter.
    page.goto(web_server)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.get_by_label("Search").focus()
    page.keyboard.type("no-such-root")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"\?q=no-such-root"))
    assert page.get_by_text("None found.").is_visible()


def test_without_javascript_forms_work_and_the_page_refreshes_to_ready(
        browser: Any, web_server: str, requested: str) -> None:
    """No script: the request form still posts, the build page reloads itself (<meta refresh>)
    until the build is ready, and the list's filter form is a plain GET."""
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{web_server}/request")
        page.get_by_label("Requirements, one a line (PEP 508)").fill("nojs")
        with page.expect_navigation(url=re.compile(r"/environments/[0-9a-f]{64}$")) as landed:
            page.get_by_role("button", name="Request the environment").click()
        first = landed.value.text()
        assert 'http-equiv="refresh"' in first and "status-ready" not in first
        page.get_by_role("heading", name="Build timings").wait_for()
        assert page.locator("#status").inner_text() == "ready"
        assert page.locator(".copy-button").is_hidden()  # the copy button needs the script
        page.goto(web_server)
        page.get_by_label("Package").fill("util")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(re.compile(r"package=util"))
        rows = page.locator("table.environments tbody tr")
        assert rows.count() == 1 and requested[:12] in rows.inner_text()
    finally:
        context.close()
