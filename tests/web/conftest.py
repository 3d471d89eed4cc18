"""The web UI's fixtures: a small world of real wheels on a real local index, an app over a real
service (plain page tests), a real `venvd serve` subprocess and Debian's Chromium (browser tests).

    webapp 1.0 ──▶ lib>=1 ──▶ base
         └──────▶ util ────▶ base          (a diamond: two paths from webapp to base)
    solo 1.0                                (no dependencies)
    webtool 1.0 ──▶ base                    (an sdist: its build takes a moment to follow)
    nojs 1.0                                (an sdist too, for the page without JavaScript)
    broken 1.0                              (an sdist whose build fails)

A failing browser test saves a screenshot in tests/web/screenshots/ and names it in the report.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.dists import make_sdist, make_wheel
from tests.support.index_server import LocalIndex
from tests.support.ports import free_port
from tests.support.serving import wait_healthy

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parent / "screenshots"
VENVD = [sys.executable, "-m", "venvd"]


@pytest.fixture(scope="session")
def web_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIndex]:
    root = tmp_path_factory.mktemp("web-index")
    index = LocalIndex(root / "index").start()
    src = root / "src"
    index.add(make_wheel(src, "webapp", "1.0", requires_dist=["lib>=1", "util"]))
    index.add(make_wheel(src, "lib", "1.0", requires_dist=["base"]))
    index.add(make_wheel(src, "util", "1.0", requires_dist=["base"]))
    index.add(make_wheel(src, "base", "1.0"))
    index.add(make_wheel(src, "base", "2.0"))
    index.add(make_wheel(src, "solo", "1.0"))
    index.add(make_sdist(src, "webtool", "1.0", requires_dist=["base"]))
    index.add(make_sdist(src, "nojs", "1.0"))
    index.add(make_sdist(src, "broken", "1.0", fail="missing compiler"))
    yield index
    index.stop()


@pytest.fixture(scope="session")
def web_server(web_index: LocalIndex, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `venvd serve` on a free loopback port (tokens off: the loopback default)."""
    port = free_port()
    data = tmp_path_factory.mktemp("web-server")
    log = (data / "serve.log").open("w")
    env = {**os.environ, "VENVD_DATA_DIR": str(data / "data")}
    proc = subprocess.Popen(
        [*VENVD, "serve", "--port", str(port), "--index-url", web_index.url,
         "--log-level", "warning"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, url, lambda: (data / "serve.log").read_text())
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


# Per module, not per session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and a later test calling asyncio.run would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright (its own browser download cannot reach its host).
    Missing: skip with the reason, except in CI (CI=true), where it is a failure."""
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    request.node.web_page = page  # for the screenshot hook
    yield page
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing browser test saves what the page showed, and says where."""
    outcome = yield
    report = outcome.get_result()
    page = getattr(item, "web_page", None)
    if report.when == "call" and report.failed and page is not None:
        SCREENSHOTS.mkdir(exist_ok=True)
        shot = SCREENSHOTS / f"{item.name}.png"
        try:
            page.screenshot(path=str(shot), full_page=True)
            report.sections.append(("screenshot", f"saved to {shot} (page {page.url})"))
            report.longrepr = f"{report.longrepr}\n\nscreenshot: {shot} (page {page.url})"
        except Exception as exc:  # the page may be gone: the failure itself still shows
            report.sections.append(("screenshot", f"could not be saved: {exc!r}"))
