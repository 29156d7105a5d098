"""A real browser for the web pages' tests: Debian's headless Chromium driven by Selenium.

``browser`` is one Chromium for the whole session (starting one takes about a second);
``page`` is that browser cleared of cookies and on a blank page, for a test that must not
see another's sign-in; ``screenshot("name")`` saves what the browser shows under
``test-output/screenshots/`` at the repository root, where a person can look at it.

Selenium is pointed at /usr/bin/chromedriver and /usr/bin/chromium (`scripts/chromium.sh
install`, run by `scripts/services.sh start`), so its Selenium Manager never runs and never
downloads a driver. Without them the tests fail under `make test` and are skipped elsewhere.
"""

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.conftest import unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1280, 900)
"""The page's viewport, and so every screenshot's size: the window's own size counts the
headless browser's hidden toolbars, so the viewport is set exactly (device metrics)."""
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
"""Git-ignored; kept after the run, each file overwritten by the next run of its test."""

_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # the tests may run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers give /dev/shm 64 MB; Chromium crashes past it
    # Nothing but the page under test goes over the network: no updates, sync or phoning home.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
)

Screenshot = Callable[[str], Path]


def _options(profile: Path) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return options


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a fresh profile, for the whole session."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        unavailable(f"{' and '.join(missing)} not installed: run scripts/chromium.sh install (make test does)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # should Selenium Manager ever run, it may not download
        driver = webdriver.Chrome(
            options=_options(tmp_path_factory.mktemp("chromium-profile")),
            service=Service(executable_path=str(CHROMEDRIVER)),
        )
    try:
        width, height = WINDOW
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
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
