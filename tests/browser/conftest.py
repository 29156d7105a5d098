"""A real browser for the web pages' tests: Debian's headless Chromium driven by Selenium.

``browser`` is one Chromium for the whole session (starting one takes about a second);
``page`` is that browser cleared of cookies and on a blank page, for a test that must not
see another's sign-in; ``screenshot("name")`` saves what the browser shows under
``test-output/screenshots/`` at the repository root, where a person can look at it.

The browser is made by ``tests.browser.chromium`` (Debian's /usr/bin/chromium and
/usr/bin/chromedriver; bench/web.py starts its own the same way). Without them the tests
fail under `make test` and are skipped elsewhere.
"""

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver

from tests.browser.chromium import missing, start_chromium
from tests.conftest import unavailable

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
"""Git-ignored; kept after the run, each file overwritten by the next run of its test."""

Screenshot = Callable[[str], Path]


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a fresh profile, for the whole session."""
    if absent := missing():
        unavailable(f"{' and '.join(absent)} not installed: run scripts/chromium.sh install (make test does)")
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: webdriver.Chrome) -> webdriver.Chrome:
    """The session's browser with no cookies (so no one signed in) on a blank page."""
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser.get("about:blank")
    return browser


@pytest.fixture
def screenshot(browser: webdriver.Chrome, request: pytest.FixtureRequest) -> Screenshot:
    """``screenshot("directory")`` saves the window as test-output/screenshots/<test>--directory.png."""
    test = _file_name(request.node.name)

    def save(name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{test}--{_file_name(name)}.png"
        if not browser.save_screenshot(str(path)):
            raise AssertionError(f"Chromium saved no screenshot to {path}")
        _saved.append(path)
        return path

    return save


_saved: list[Path] = []


def _file_name(text: str) -> str:
    """``text`` with anything but letters, digits, dots and dashes made ``_`` (test ids hold brackets)."""
    return re.sub(r"[^\w.-]+", "_", text)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say where the screenshots are, so a person can find them after the run."""
    if _saved:
        terminalreporter.write_line(f"{len(_saved)} browser screenshot(s) saved in {SCREENSHOTS}")
